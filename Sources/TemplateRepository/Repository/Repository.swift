import Core
import Crypto
import Dispatch
import Foundation
import Logging
import SQLKit
import Storage

#if canImport(Glibc)
    import Glibc
#endif

/// The template repository in a data directory: chunks on disk, the catalog database beside them, and the
/// publisher key that signs manifests and catalogs.
///
/// A version becomes visible in one database transaction, after every chunk it references is stored and
/// its manifest is signed; an interrupted publish leaves no visible trace and the next attempt skips the
/// chunks already stored.
///
/// ```swift
/// let repository = try await Repository.open(dataDirectory: data, key: key)
/// let report = try await repository.publish(imageAt: "ubuntu.qcow2", metadata: metadata)
/// ```
public struct Repository: Sendable {
    public let dataDirectory: URL
    public let chunks: FileChunkStore
    public let key: PublisherKey
    /// How long a signed catalog stays valid; it is re-signed when half of that has passed.
    public var catalogValidity: TimeInterval
    public var parameters: ChunkingParameters
    /// The OS type names a publish may declare.
    public var osTypes = GuestOSTypes()
    let database: any SQLStore
    let lock: RepositoryLock
    let logger: Logger

    /// Opens the repository whose chunks live in `dataDirectory` and whose catalog lives in `database`,
    /// bringing the database's schema up to date.
    /// - Throws: ``TemplateRepositoryError`` or ``StorageError`` when the directory or database is unusable.
    public static func open(
        dataDirectory: URL, database: any SQLStore, key: PublisherKey, catalogValidity: TimeInterval = 48 * 3600,
        parameters: ChunkingParameters = .standard, logger: Logger = Logger(label: "mclouds.repository")
    ) async throws -> Repository {
        let chunks = try FileChunkStore(dataDirectory: dataDirectory)
        try await Migrator(migrations: migrations).apply(to: database)
        return Repository(
            dataDirectory: dataDirectory, chunks: chunks, key: key, catalogValidity: catalogValidity, parameters: parameters, database: database,
            lock: RepositoryLock(path: dataDirectory.appendingPathComponent("repository.lock").path), logger: logger)
    }

    /// The catalog schema.
    public static var migrations: [Migration] { RepositorySchema.migrations + [LeaseStore.migration] }

    /// Keys that verify what this repository signs.
    public var verifier: DocumentVerifier { DocumentVerifier(trusted: [key.publicKey]) }

    // MARK: Publishing

    /// Chunks and stores the image at `path`, then commits it as `metadata.name@metadata.version`.
    ///
    /// Publishing an image that is already published under that name and version stores nothing and
    /// reports `alreadyPublished`.
    /// - Parameter progress: called with the bytes processed so far.
    /// - Throws: ``TemplateRepositoryError`` for bad metadata, an unreadable image, a version that exists
    ///   with other content or was withdrawn, or a store failure.
    public func publish(
        imageAt path: String, metadata: TemplateMetadata, progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> PublishReport {
        try metadata.validate()
        try osTypes.check(metadata.osType)
        try await offloaded { try ImageInspector.check(format: metadata.format, path: path) }
        try await refuseTakenVersion(metadata)
        try await reapInterruptedPublishes()
        let publishID = UUID().uuidString
        try await recordPublish(id: publishID, metadata)
        do {
            let report = try await lock.shared {
                let chunker = ImageChunker(parameters: parameters)
                let store = chunks
                let chunkingStarted = ContinuousClock.now
                let (image, newChunks, newBytes) = try await offloaded {
                    // Writers write straight from the image's mapping; 256 chunks in flight (about 32 MiB of pages kept
                    // mapped for them) let hashing run ahead of the writers' bursts instead of waiting on them.
                    let writer = ParallelChunkWriter(store: store, capacity: 256)
                    do {
                        let image = try chunker.chunk(path: path, borrower: writer) { reference, bytes in
                            let end = reference.offset + Int64(reference.length)
                            try writer.submit(digest: reference.digest, borrowed: bytes, end: end)
                            progress?(end)
                        }
                        let (newChunks, newBytes) = try writer.finish()
                        return (image, newChunks, newBytes)
                    } catch {
                        writer.abandon()
                        throw error
                    }
                }
                let commitStarted = ContinuousClock.now
                var report = try await commitHoldingLock(metadata, image: image, publishID: publishID)
                logger.debug(
                    "publish timings",
                    metadata: [
                        "template": "\(metadata.name)", "chunking_seconds": "\(commitStarted - chunkingStarted)",
                        "commit_seconds": "\(ContinuousClock.now - commitStarted)",
                    ])
                report.newChunks = newChunks
                report.newBytes = newBytes
                return report
            }
            logger.info(
                report.alreadyPublished ? "already published" : "published",
                metadata: [
                    "template": "\(metadata.name)", "version": "\(metadata.version)", "bytes": .stringConvertible(report.size),
                    "new_bytes": .stringConvertible(report.newBytes),
                ])
            return report
        } catch {
            try? await finishPublish(id: publishID, state: "failed", error: "\(error)")
            throw error
        }
    }

    /// ``missing(_:)`` on a thread of its own (the store's file checks block), for request handlers.
    public func missingOffloaded(_ digests: [String]) async throws -> [String] {
        try await offloaded { [self] in try missing(digests) }
    }

    /// The digests among `digests` that are not stored (what a remote publisher must upload).
    public func missing(_ digests: [String]) throws -> [String] {
        var seen = Set<String>()
        return try digests.filter { seen.insert($0).inserted }.filter { try !chunks.contains($0) }
    }

    /// Commits a version whose chunks were uploaded separately: checks that every chunk is stored and that
    /// together they hash to `image.digest`, then makes it visible.
    /// - Throws: ``TemplateRepositoryError`` `incompleteUpload` listing what is missing, `digestMismatch` when
    ///   the chunks do not make the claimed image, `versionConflict` or `withdrawn`.
    public func commit(_ metadata: TemplateMetadata, image: ChunkedImage) async throws -> PublishReport {
        try metadata.validate()
        try osTypes.check(metadata.osType)
        try manifest(for: metadata, image: image).validateLayout()
        if let long = image.chunks.first(where: { $0.length > parameters.maximum }) {
            throw TemplateRepositoryError.malformed(
                document: "upload \(metadata.name)@\(metadata.version)",
                reason:
                    "chunk at offset \(long.offset) is \(long.length) bytes, over this repository's maximum of \(parameters.maximum); cut the image as GET /api/v1/repository says"
            )
        }
        try await refuseTakenVersion(metadata)
        try await reapInterruptedPublishes()
        let publishID = UUID().uuidString
        try await recordPublish(id: publishID, metadata)
        do {
            return try await lock.shared {
                let absent = try missing(image.chunks.map(\.digest))
                guard absent.isEmpty else { throw TemplateRepositoryError.incompleteUpload(missing: absent) }
                let store = chunks
                // Every chunk is read back and hashed on its own and with the image: one the disk damaged since
                // it was stored is removed and named, so the publisher uploads it again.
                let (actual, damaged) = try await offloaded {
                    var whole = SHA256Stream()
                    var damaged: [String] = []
                    for chunk in image.chunks {
                        let bytes = try store.get(chunk.digest)
                        var digest = SHA256Stream()
                        bytes.withUnsafeBytes { SHA256Stream.update(&digest, &whole, with: $0) }
                        if digest.finalizeHex() != chunk.digest {
                            if !damaged.contains(chunk.digest) { damaged.append(chunk.digest) }
                            continue
                        }
                        guard bytes.count == chunk.length else {
                            throw TemplateRepositoryError.malformed(
                                document: "upload \(metadata.name)@\(metadata.version)",
                                reason: "chunk \(chunk.digest) has \(bytes.count) bytes, not \(chunk.length)")
                        }
                    }
                    for digest in damaged { try store.remove(digest) }
                    return (whole.finalizeHex(), damaged)
                }
                guard damaged.isEmpty else {
                    logger.error(
                        "stored chunks were damaged on disk; removed for a new upload",
                        metadata: ["chunks": .stringConvertible(damaged.count), "chunk.digest": "\(damaged[0])"])
                    throw TemplateRepositoryError.damagedChunks(damaged)
                }
                guard actual == image.digest else { throw TemplateRepositoryError.digestMismatch(expected: image.digest, actual: actual) }
                try await offloaded { try ImageInspector.check(format: metadata.format, image: image, store: store) }
                return try await commitHoldingLock(metadata, image: image, publishID: publishID)
            }
        } catch {
            try? await finishPublish(id: publishID, state: "failed", error: "\(error)")
            throw error
        }
    }

    func manifest(for metadata: TemplateMetadata, image: ChunkedImage) -> TemplateManifest {
        TemplateManifest(
            name: metadata.name, version: metadata.version, format: metadata.format, hypervisor: metadata.hypervisor, osType: metadata.osType,
            displayText: metadata.displayText, software: metadata.software, minimumCPUs: metadata.minimumCPUs,
            minimumMemoryMB: metadata.minimumMemoryMB, image: image, chunking: parameters, created: Timestamps.string(from: Date()),
            publisherKeyID: key.publicKey.keyID, expires: metadata.expires, build: metadata.build)
    }

    /// Signs the manifest and makes the version visible with a new catalog, all in one transaction.
    private func commitHoldingLock(_ metadata: TemplateMetadata, image: ChunkedImage, publishID: String) async throws -> PublishReport {
        let manifest = manifest(for: metadata, image: image)
        try manifest.validateLayout()
        let document = try String(decoding: key.signedBytes(manifest), as: UTF8.self)
        let manifestDigest = SHA256.hash(data: Array(document.utf8)).hexString
        let now = Timestamps.string(from: Date())
        let report = PublishReport(
            name: metadata.name, version: metadata.version, size: image.size, sha256: image.digest, chunks: image.chunks.count,
            newChunks: 0, newBytes: 0, alreadyPublished: false, manifestDigest: manifestDigest, catalogSerial: 0)
        let committed = try await database.transaction { db -> PublishReport in
            var report = report
            if let existing = try await db.raw(
                "SELECT state, sha256, manifest_digest FROM versions WHERE name = \(bind: metadata.name) AND version = \(bind: metadata.version)"
            ).first() {
                let state = try existing.decode(column: "state", as: String.self)
                if state == VersionState.withdrawn.rawValue {
                    throw TemplateRepositoryError.withdrawn(name: metadata.name, version: metadata.version)
                }
                guard try existing.decode(column: "sha256", as: String.self) == image.digest else {
                    throw TemplateRepositoryError.versionConflict(name: metadata.name, version: metadata.version)
                }
                report.alreadyPublished = true
                report.manifestDigest = try existing.decode(column: "manifest_digest", as: String.self)
            } else {
                try await db.raw("INSERT INTO templates (name, created) VALUES (\(bind: metadata.name), \(bind: now)) ON CONFLICT (name) DO NOTHING")
                    .run()
                try await db.raw(
                    """
                    INSERT INTO versions (name, version, state, format, hypervisor, os_type, display_text, size, sha256, chunk_count,
                        manifest, manifest_digest, published, changed)
                    VALUES (\(bind: metadata.name), \(bind: metadata.version), 'published', \(bind: metadata.format.rawValue),
                        \(bind: metadata.hypervisor.rawValue), \(bind: metadata.osType), \(bind: metadata.displayText), \(bind: image.size),
                        \(bind: image.digest), \(bind: image.chunks.count), \(bind: document), \(bind: manifestDigest), \(bind: now), \(bind: now))
                    """
                ).run()
                let seq = try await db.raw("SELECT seq FROM versions WHERE name = \(bind: metadata.name) AND version = \(bind: metadata.version)")
                    .first()!.decode(column: "seq", as: Int.self)
                try await db.raw(
                    "INSERT INTO version_digests (version_seq, digests) VALUES (\(bind: seq), \(bind: VersionDigests.encode(image.chunks.map(\.digest))))"
                ).run()
                report.catalogSerial = try await signCatalog(db, now: Date())
            }
            try await db.raw("UPDATE publishes SET state = 'committed', updated = \(bind: now) WHERE id = \(bind: publishID)").run()
            return report
        }
        return committed
    }

    private func refuseTakenVersion(_ metadata: TemplateMetadata) async throws {
        let state = try await database.withDatabase { db in
            try await db.raw("SELECT state FROM versions WHERE name = \(bind: metadata.name) AND version = \(bind: metadata.version)")
                .first(decodingColumn: "state", as: String.self)
        }
        if state == VersionState.withdrawn.rawValue { throw TemplateRepositoryError.withdrawn(name: metadata.name, version: metadata.version) }
    }

    private func recordPublish(id: String, _ metadata: TemplateMetadata) async throws {
        let now = Timestamps.string(from: Date())
        try await database.transaction { db in
            try await db.raw(
                """
                INSERT INTO publishes (id, name, version, started, updated, state)
                VALUES (\(bind: id), \(bind: metadata.name), \(bind: metadata.version), \(bind: now), \(bind: now), 'running')
                """
            ).run()
        }
    }

    private func finishPublish(id: String, state: String, error: String?) async throws {
        let now = Timestamps.string(from: Date())
        try await database.transaction { db in
            try await db.raw("UPDATE publishes SET state = \(bind: state), error = \(bind: error), updated = \(bind: now) WHERE id = \(bind: id)")
                .run()
        }
    }

    // MARK: Catalog

    /// Signs a catalog of every published and deprecated version with the next serial; returns the serial.
    private func signCatalog(_ db: any SQLDatabase, now: Date) async throws -> Int {
        // Every catalog change can move which chunks only partner-only templates reference.
        try await Self.refreshRestrictedChunks(db)
        let rows = try await db.raw(
            "SELECT name, version, state, size, manifest_digest FROM versions WHERE state != 'withdrawn' ORDER BY name, seq"
        ).all()
        let entries = try rows.map { row in
            Catalog.Entry(
                name: try row.decode(column: "name", as: String.self), version: try row.decode(column: "version", as: String.self),
                manifestDigest: try row.decode(column: "manifest_digest", as: String.self), size: try row.decode(column: "size", as: Int64.self),
                deprecated: try row.decode(column: "state", as: String.self) == VersionState.deprecated.rawValue)
        }
        let last = try await db.raw("SELECT MAX(serial) AS serial FROM catalogs").first(decodingColumn: "serial", as: Int?.self) ?? nil
        let serial = (last ?? 0) + 1
        let catalog = Catalog(
            serial: serial, issued: Timestamps.string(from: now), expires: Timestamps.string(from: now.addingTimeInterval(catalogValidity)),
            entries: entries)
        let document = try String(decoding: key.signedBytes(catalog), as: UTF8.self)
        try await db.raw(
            "INSERT INTO catalogs (serial, issued, expires, document) VALUES (\(bind: serial), \(bind: catalog.issued), \(bind: catalog.expires), \(bind: document))"
        ).run()
        return serial
    }

    /// The current signed catalog as served. A catalog past half its validity is re-signed with a new
    /// serial first, so readers never see it expire while the repository is alive.
    public func signedCatalog(now: Date = Date()) async throws -> [UInt8] {
        if let current = try await latestCatalog(), let expires = Timestamps.date(from: current.expires),
            expires.timeIntervalSince(now) > catalogValidity / 2
        {
            return Array(current.document.utf8)
        }
        try await database.transaction { db in _ = try await signCatalog(db, now: now) }
        return Array(try await latestCatalog()!.document.utf8)
    }

    private func latestCatalog() async throws -> (expires: String, document: String)? {
        try await database.withDatabase { db in
            guard let row = try await db.raw("SELECT expires, document FROM catalogs ORDER BY serial DESC LIMIT 1").first() else { return nil }
            return (try row.decode(column: "expires", as: String.self), try row.decode(column: "document", as: String.self))
        }
    }

    // MARK: Reading

    /// Every template with its versions (withdrawn ones included, marked so), oldest version first.
    public func templates() async throws -> [TemplateSummary] {
        let versions = try await versionRows(where: nil)
        var order: [String] = []
        var grouped: [String: [VersionInfo]] = [:]
        for version in versions {
            if grouped[version.name] == nil { order.append(version.name) }
            grouped[version.name, default: []].append(version)
        }
        return order.sorted().map { TemplateSummary(name: $0, versions: grouped[$0]!) }
    }

    /// One template's versions.
    /// - Throws: ``TemplateRepositoryError`` `notFound`.
    public func template(_ name: String) async throws -> TemplateSummary {
        try TemplateName.validate(name, kind: "Template name")
        let versions = try await versionRows(where: name)
        guard !versions.isEmpty else { throw TemplateRepositoryError.notFound(name: name, version: nil) }
        return TemplateSummary(name: name, versions: versions)
    }

    /// The signed manifest of a version, as served.
    /// - Throws: ``TemplateRepositoryError`` `notFound`.
    public func signedManifest(name: String, version: String) async throws -> [UInt8] {
        try TemplateName.validate(name, kind: "Template name")
        try TemplateName.validate(version, kind: "Version")
        let document = try await database.withDatabase { db in
            try await db.raw("SELECT manifest FROM versions WHERE name = \(bind: name) AND version = \(bind: version)")
                .first(decodingColumn: "manifest", as: String.self)
        }
        guard let document else { throw TemplateRepositoryError.notFound(name: name, version: version) }
        return Array(document.utf8)
    }

    /// The verified manifest of a version.
    public func manifest(name: String, version: String) async throws -> TemplateManifest {
        let bytes = try await signedManifest(name: name, version: version)
        let document = try JSONDecoder().decode(SignedDocument<TemplateManifest>.self, from: Data(bytes))
        return try verifier.verify(document, name: "manifest \(name)@\(version)")
    }

    private func versionRows(where name: String?) async throws -> [VersionInfo] {
        try await database.withDatabase { db in
            let query: SQLQueryString =
                name.map {
                    "SELECT * FROM versions WHERE name = \(bind: $0) ORDER BY seq"
                } ?? "SELECT * FROM versions ORDER BY name, seq"
            return try await db.raw(query).all().map { row in
                VersionInfo(
                    name: try row.decode(column: "name", as: String.self), version: try row.decode(column: "version", as: String.self),
                    state: VersionState(rawValue: try row.decode(column: "state", as: String.self)) ?? .published,
                    format: try row.decode(column: "format", as: String.self), hypervisor: try row.decode(column: "hypervisor", as: String.self),
                    osType: try row.decode(column: "os_type", as: String.self), displayText: try row.decode(column: "display_text", as: String.self),
                    size: try row.decode(column: "size", as: Int64.self), sha256: try row.decode(column: "sha256", as: String.self),
                    chunks: try row.decode(column: "chunk_count", as: Int.self),
                    manifestDigest: try row.decode(column: "manifest_digest", as: String.self),
                    published: try row.decode(column: "published", as: String.self), changed: try row.decode(column: "changed", as: String.self))
            }
        }
    }

    /// Publishes that started and never finished (interrupted or still running).
    /// Marks publishes that a killed or crashed process left `running` as failed, "interrupted" (nothing of
    /// them was committed). Only when no publish or commit holds the repository lock, so a live one is never touched.
    /// - Returns: how many were marked.
    @discardableResult
    public func reapInterruptedPublishes() async throws -> Int {
        let database = database
        return try await lock.ifFree {
            try await database.transaction { db in
                let stale = try await db.raw("SELECT id FROM publishes WHERE state = 'running'").all().count
                guard stale > 0 else { return 0 }
                let now = Timestamps.string(from: Date())
                try await db.raw(
                    """
                    UPDATE publishes SET state = 'failed', updated = \(bind: now),
                        error = 'interrupted: the process ended during the publish (killed or crashed); nothing of it was committed: publish again'
                    WHERE state = 'running'
                    """
                ).run()
                return stale
            }
        } ?? 0
    }

    /// One publish as recorded: `running`, `committed` or `failed` (with the error; "interrupted: …" for one
    /// whose process ended).
    public struct PublishRecord: Sendable, Hashable, Codable {
        public var name: String
        public var version: String
        public var state: String
        public var started: String
        public var error: String?
    }

    /// The most recent publishes, newest first.
    public func publishHistory(limit: Int = 50) async throws -> [PublishRecord] {
        try await database.withDatabase { db in
            try await db.raw("SELECT name, version, state, started, error FROM publishes ORDER BY started DESC, updated DESC LIMIT \(bind: limit)")
                .all().map {
                    PublishRecord(
                        name: try $0.decode(column: "name", as: String.self), version: try $0.decode(column: "version", as: String.self),
                        state: try $0.decode(column: "state", as: String.self), started: try $0.decode(column: "started", as: String.self),
                        error: try $0.decode(column: "error", as: String?.self))
                }
        }
    }

    /// Publishes running now. While no process holds the repository lock none is, whatever rows a killed
    /// process left `running` (the next writer marks them with ``reapInterruptedPublishes()``).
    public func unfinishedPublishes() async throws -> [(name: String, version: String, started: String)] {
        guard try await lock.ifFree({ true }) == nil else { return [] }
        return try await database.withDatabase { db in
            try await db.raw("SELECT name, version, started FROM publishes WHERE state = 'running' ORDER BY started").all().map {
                (
                    try $0.decode(column: "name", as: String.self), try $0.decode(column: "version", as: String.self),
                    try $0.decode(column: "started", as: String.self)
                )
            }
        }
    }

    // MARK: Changing state

    /// Withdraws (removes from the catalog; its chunks become garbage unless shared) or deprecates
    /// (kept, flagged in the catalog) a version. Returns the new catalog serial.
    /// - Throws: ``TemplateRepositoryError`` `notFound`, or `withdrawn` for a version already withdrawn.
    @discardableResult
    public func setState(_ state: VersionState, name: String, version: String) async throws -> Int {
        try TemplateName.validate(name, kind: "Template name")
        try TemplateName.validate(version, kind: "Version")
        return try await database.transaction { db in
            guard
                let current = try await db.raw("SELECT state FROM versions WHERE name = \(bind: name) AND version = \(bind: version)")
                    .first(decodingColumn: "state", as: String.self)
            else { throw TemplateRepositoryError.notFound(name: name, version: version) }
            if current == VersionState.withdrawn.rawValue { throw TemplateRepositoryError.withdrawn(name: name, version: version) }
            let now = Timestamps.string(from: Date())
            try await db.raw(
                "UPDATE versions SET state = \(bind: state.rawValue), changed = \(bind: now) WHERE name = \(bind: name) AND version = \(bind: version)"
            ).run()
            return try await signCatalog(db, now: Date())
        }
    }

    // MARK: Garbage collection

    /// The lease garbage collection holds in the database, so that two servers sharing one chunk store never
    /// collect at once.
    public static let garbageLease = "repository-gc"

    /// Removes chunks no published or deprecated version references. Chunks younger than `grace` are kept
    /// (an upload may be about to commit them); the `repository-gc` lease in the database keeps other
    /// instances' collections out, and the repository lock (a `flock` on the shared data directory) keeps
    /// publishes and commits out while it runs.
    /// - Parameter onWait: called once when another collection or a publish holds it up and gc waits.
    public func collectGarbage(grace: TimeInterval = 3600, dryRun: Bool = false, onWait: (@Sendable () -> Void)? = nil) async throws
        -> GarbageReport
    {
        // The lease outlives a stalled collector by at most ten minutes; it is renewed while gc runs.
        let report = try await LeaseStore(store: database).withLease(Self.garbageLease, duration: 600, onWait: onWait) {
            try await collectGarbageLocked(grace: grace, dryRun: dryRun, onWait: onWait)
        }
        return report!
    }

    private func collectGarbageLocked(grace: TimeInterval, dryRun: Bool, onWait: (@Sendable () -> Void)?) async throws -> GarbageReport {
        if !dryRun { try await reapInterruptedPublishes() }
        return try await lock.exclusive(onWait: onWait) {
            let liveSet = try await database.withDatabase { db in
                var live = Set<String>()
                for row in try await db.raw(
                    "SELECT d.digests FROM version_digests d JOIN versions v ON v.seq = d.version_seq WHERE v.state != 'withdrawn'"
                ).all() {
                    live.formUnion(try VersionDigests.decode(row.decode(column: "digests", as: String.self)))
                }
                return live
            }
            let store = chunks
            return try await offloaded {
                // A dry run changes nothing: it counts the stale temporaries instead of removing them.
                let stale = store.removeStaleTemporaries(dryRun: dryRun)
                let cutoff = Date().addingTimeInterval(-grace)
                var report = GarbageReport(stored: 0, live: liveSet.count, removed: 0, removedBytes: 0, keptRecent: 0, staleTemporaries: stale)
                for digest in try store.allDigests() {
                    report.stored += 1
                    if liveSet.contains(digest) { continue }
                    let attributes = try? FileManager.default.attributesOfItem(atPath: store.path(for: digest))
                    if let modified = attributes?[.modificationDate] as? Date, modified > cutoff {
                        report.keptRecent += 1
                        continue
                    }
                    report.removed += 1
                    report.removedBytes += (attributes?[.size] as? Int64) ?? Int64((attributes?[.size] as? Int) ?? 0)
                    if !dryRun { try store.remove(digest) }
                }
                return report
            }
        }
    }
}

/// Runs blocking work (file I/O, hashing) on a Dispatch thread instead of a Swift concurrency one.
func offloaded<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

/// A version's chunk digests as stored in `version_digests`: the hex digests concatenated in image order.
enum VersionDigests {
    static func encode(_ digests: [String]) -> String { digests.joined() }

    /// - Throws: ``TemplateRepositoryError/storeFailure(path:reason:)`` when the text is not whole digests.
    static func decode(_ text: String) throws -> [String] {
        let utf8 = Array(text.utf8)
        guard utf8.count % 64 == 0 else {
            throw TemplateRepositoryError.storeFailure(
                path: "version_digests", reason: "a digest list of \(utf8.count) characters is not a whole number of SHA-256 digests")
        }
        return stride(from: 0, to: utf8.count, by: 64).map { String(decoding: utf8[$0..<($0 + 64)], as: UTF8.self) }
    }
}
