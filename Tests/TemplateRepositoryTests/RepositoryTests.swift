import Core
import Crypto
import Foundation
import SQLKit
import Storage
import Synchronization
import TestSupport
import Testing

@testable import TemplateRepository

/// A repository in a fresh temporary directory, with small chunks so tests stay quick.
struct TemporaryRepository {
    let directory: URL
    let repository: Repository

    static func make(catalogValidity: TimeInterval = 48 * 3600, on backend: TestDatabase = .sqlite) async throws -> TemporaryRepository {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("repo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = try await backend.open(in: directory, migrations: [])
        let repository = try await Repository.open(
            dataDirectory: directory, database: database, key: PublisherKey(), catalogValidity: catalogValidity, parameters: small)
        return TemporaryRepository(directory: directory, repository: repository)
    }

    func writeImage(_ bytes: [UInt8], name: String = "image") throws -> String {
        let url = directory.appendingPathComponent("\(name)-\(UUID().uuidString).qcow2")
        try Data(bytes).write(to: url)
        return url.path
    }

    func catalog() async throws -> Catalog {
        let bytes = try await repository.signedCatalog()
        let document = try JSONDecoder().decode(SignedDocument<Catalog>.self, from: Data(bytes))
        return try repository.verifier.verifyCatalog(document, now: Date(), lastSerial: nil)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

func metadata(_ name: String = "ubuntu-22.04", _ version: String = "1.0") -> TemplateMetadata {
    TemplateMetadata(name: name, version: version, format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS", software: ["gcc"])
}

/// `bytes` with `count` scattered overwrites and a few insertions.
func edited(_ bytes: [UInt8], regions count: Int, seed: UInt64) -> [UInt8] {
    var result = bytes
    let noise = imageBytes(count * 64, seed: seed)
    for i in 0..<count {
        let at = (i * 7919 * 131) % (result.count - 64)
        result.replaceSubrange(at..<(at + 64), with: noise[(i * 64)..<(i * 64 + 64)])
    }
    result.insert(contentsOf: noise.prefix(100), at: result.count / 3)
    return result
}

@Suite("Template repository")
struct RepositoryTests {
    @Test("publishing the same image twice stores nothing new; a new version stores only changed chunks", arguments: TestDatabase.available)
    func deduplication(backend: TestDatabase) async throws {
        let t = try await TemporaryRepository.make(on: backend)
        defer { t.remove() }
        let v1 = imageBytes(1_500_000, seed: 21)
        let path = try t.writeImage(v1)
        let first = try await t.repository.publish(imageAt: path, metadata: metadata())
        #expect(first.newChunks == first.chunks && first.newBytes == 1_500_000 && !first.alreadyPublished)
        #expect(first.sha256 == SHA256.hash(data: v1).hexString)

        let again = try await t.repository.publish(imageAt: path, metadata: metadata())
        #expect(again.alreadyPublished && again.newChunks == 0 && again.newBytes == 0)
        let sameBytesNewVersion = try await t.repository.publish(imageAt: path, metadata: metadata("ubuntu-22.04", "1.0-rebuild"))
        #expect(sameBytesNewVersion.newChunks == 0 && !sameBytesNewVersion.alreadyPublished)

        let v2 = edited(v1, regions: 5, seed: 22)
        let second = try await t.repository.publish(imageAt: try t.writeImage(v2), metadata: metadata("ubuntu-22.04", "2.0"))
        #expect(second.newBytes > 0)
        #expect(Double(second.newBytes) / Double(second.size) < 0.35)

        let catalog = try await t.catalog()
        #expect(catalog.entries.map(\.version) == ["1.0", "1.0-rebuild", "2.0"])
        #expect(catalog.serial == 3)
        let manifest = try await t.repository.manifest(name: "ubuntu-22.04", version: "2.0")
        #expect(manifest.sha256 == SHA256.hash(data: v2).hexString)
        #expect(try manifest.chunks.allSatisfy { try t.repository.chunks.contains($0.digest) })
        let entry = catalog.entries.last!
        #expect(entry.manifestDigest == SHA256.hash(data: try await t.repository.signedManifest(name: "ubuntu-22.04", version: "2.0")).hexString)
    }

    @Test(
        "a version never changes: other content under the same version is refused, a withdrawn version stays withdrawn",
        arguments: TestDatabase.available)
    func immutableVersions(backend: TestDatabase) async throws {
        let t = try await TemporaryRepository.make(on: backend)
        defer { t.remove() }
        _ = try await t.repository.publish(imageAt: try t.writeImage(imageBytes(200_000, seed: 23)), metadata: metadata())
        let other = try t.writeImage(imageBytes(200_000, seed: 24))
        let conflict = await #expect(throws: TemplateRepositoryError.self) { try await t.repository.publish(imageAt: other, metadata: metadata()) }
        #expect(conflict?.httpStatus == 409)
        #expect("\(conflict!)".contains("publish under a new version"))

        try await t.repository.setState(.withdrawn, name: "ubuntu-22.04", version: "1.0")
        #expect(try await t.catalog().entries.isEmpty)
        let reuse = await #expect(throws: TemplateRepositoryError.self) { try await t.repository.publish(imageAt: other, metadata: metadata()) }
        #expect("\(reuse!)".contains("withdrawn"))
        await #expect(throws: TemplateRepositoryError.self) { try await t.repository.setState(.deprecated, name: "ubuntu-22.04", version: "9.9") }
    }

    @Test("names and versions with path traversal or odd characters are refused before anything is stored", arguments: TestDatabase.available)
    func names(backend: TestDatabase) async throws {
        let t = try await TemporaryRepository.make(on: backend)
        defer { t.remove() }
        let path = try t.writeImage(imageBytes(50_000, seed: 25))
        for (name, version) in [("../etc", "1"), ("ok", "../../x"), ("a/b", "1"), ("ok", "1..2"), (".hidden", "1"), ("", "1"), ("ok", "1 0")] {
            let error = await #expect(throws: TemplateRepositoryError.self) {
                try await t.repository.publish(imageAt: path, metadata: metadata(name, version))
            }
            #expect(error?.httpStatus == 400)
        }
        #expect(try t.repository.chunks.allDigests().isEmpty)
        #expect(try await t.repository.templates().isEmpty)
        await #expect(throws: TemplateRepositoryError.self) { _ = try await t.repository.signedManifest(name: "..", version: "1") }
        #expect(throws: TemplateRepositoryError.self) { _ = try TemplateName.parseReference("ubuntu@../1") }
        #expect(try TemplateName.parseReference("ubuntu-22.04@1.0").version == "1.0")
    }

    @Test("a commit of uploaded chunks needs every chunk and the right image digest; nothing is listed otherwise", arguments: TestDatabase.available)
    func commitChecks(backend: TestDatabase) async throws {
        let t = try await TemporaryRepository.make(on: backend)
        defer { t.remove() }
        let bytes = imageBytes(300_000, seed: 26)
        var stored: [String: [UInt8]] = [:]
        let image = try ImageChunker(parameters: small).chunk(bytes: bytes) { ref, raw in stored[ref.digest] = Array(raw) }
        let first = image.chunks[0].digest
        for (digest, raw) in stored where digest != first { try t.repository.chunks.put(digest, bytes: raw) }
        #expect(try t.repository.missing(image.chunks.map(\.digest)) == [first])

        let incomplete = await #expect(throws: TemplateRepositoryError.self) { try await t.repository.commit(metadata(), image: image) }
        #expect(incomplete?.missingChunks == [first])
        try t.repository.chunks.put(first, bytes: stored[first]!)

        var lying = image
        lying.digest = String(repeating: "0", count: 64)
        await #expect(throws: TemplateRepositoryError.self) { try await t.repository.commit(metadata(), image: lying) }
        var gap = image
        gap.chunks.removeLast()
        await #expect(throws: TemplateRepositoryError.self) { try await t.repository.commit(metadata(), image: gap) }
        #expect(try await t.repository.templates().isEmpty)

        let report = try await t.repository.commit(metadata(), image: image)
        #expect(report.sha256 == SHA256.hash(data: bytes).hexString)
        #expect(try await t.repository.template("ubuntu-22.04").versions.count == 1)
    }

    @Test("gc --dry-run changes nothing, not even stale temporaries: it counts them; gc removes them", arguments: TestDatabase.available)
    func garbageDryRunTouchesNothing(backend: TestDatabase) async throws {
        let t = try await TemporaryRepository.make(on: backend)
        defer { t.remove() }
        _ = try await t.repository.publish(imageAt: try t.writeImage(imageBytes(100_000, seed: 32)), metadata: metadata("t", "1"))
        try await t.repository.setState(.withdrawn, name: "t", version: "1")
        // A temporary a killed writer left (its process, pid 2^22 - 1, is gone).
        let folder = t.repository.chunks.root.appendingPathComponent("ab")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let stale = folder.appendingPathComponent(".tmp-abcd-4194303-1")
        try Data("partial".utf8).write(to: stale)
        let before = try t.repository.chunks.allDigests()

        let dry = try await t.repository.collectGarbage(grace: 0, dryRun: true)
        #expect(dry.staleTemporaries == 1 && dry.removed == before.count)
        #expect(FileManager.default.fileExists(atPath: stale.path))
        #expect(try t.repository.chunks.allDigests() == before)

        let real = try await t.repository.collectGarbage(grace: 0)
        #expect(real.staleTemporaries == 1 && real.removed == before.count)
        #expect(!FileManager.default.fileExists(atPath: stale.path))
        #expect(try t.repository.chunks.allDigests().isEmpty)
    }

    @Test(
        "gc waits while another server holds the gc lease, then runs; a scheduled scrub is skipped while another server scrubs",
        arguments: TestDatabase.available)
    func garbageUnderLease(backend: TestDatabase) async throws {
        let t = try await TemporaryRepository.make(on: backend)
        defer { t.remove() }
        _ = try await t.repository.publish(imageAt: try t.writeImage(imageBytes(100_000, seed: 33)), metadata: metadata("t", "1"))
        try await t.repository.setState(.withdrawn, name: "t", version: "1")
        let leases = LeaseStore(store: t.repository.database)
        #expect(try await leases.acquire(Repository.garbageLease, holder: "other-server", now: Date(), duration: 60) != nil)
        let waited = Mutex(false)
        let gc = Task { try await t.repository.collectGarbage(grace: 0) { waited.withLock { $0 = true } } }
        while !waited.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try t.repository.chunks.allDigests().count > 0)  // nothing removed while the other holds the lease
        try await leases.release(Repository.garbageLease, holder: "other-server")
        #expect(try await gc.value.removed > 0)
        #expect(try await leases.current(Repository.garbageLease)?.expires == 0)  // released after

        #expect(try await leases.acquire(Repository.scrubLease, holder: "other-server", now: Date(), duration: 60) != nil)
        #expect(try await t.repository.scrubUnlessRunningElsewhere() == nil)
        try await leases.release(Repository.scrubLease, holder: "other-server")
        #expect(try await t.repository.scrubUnlessRunningElsewhere() != nil)
    }

    @Test(
        "gc removes only chunks no live version references, honours the grace period, and waits for a running publish",
        arguments: TestDatabase.available)
    func garbageCollection(backend: TestDatabase) async throws {
        let t = try await TemporaryRepository.make(on: backend)
        defer { t.remove() }
        let v1 = imageBytes(800_000, seed: 27)
        _ = try await t.repository.publish(imageAt: try t.writeImage(v1), metadata: metadata("t", "1"))
        let v2 = edited(v1, regions: 20, seed: 28)
        _ = try await t.repository.publish(imageAt: try t.writeImage(v2), metadata: metadata("t", "2"))
        let before = try t.repository.chunks.allDigests().count

        let nothing = try await t.repository.collectGarbage(grace: 0)
        #expect(nothing.removed == 0 && nothing.stored == before)

        try await t.repository.setState(.withdrawn, name: "t", version: "1")
        let recent = try await t.repository.collectGarbage(grace: 3600)
        #expect(recent.removed == 0 && recent.keptRecent > 0)
        let report = try await t.repository.collectGarbage(grace: 0)
        #expect(report.removed == recent.keptRecent && report.removed > 0)
        let v2Manifest = try await t.repository.manifest(name: "t", version: "2")
        #expect(try v2Manifest.chunks.allSatisfy { try t.repository.chunks.contains($0.digest) })
        #expect(try t.repository.chunks.allDigests().count == Set(v2Manifest.chunks.map(\.digest)).count)

        // A publish holding the lock: gc waits for it, then keeps everything the publish committed.
        let big = try t.writeImage(imageBytes(6_000_000, seed: 29))
        let started = AsyncStream<Void>.makeStream()
        async let published = t.repository.publish(imageAt: big, metadata: metadata("t", "3")) { done in
            if done > 1_000_000 { started.continuation.yield() }
        }
        for await _ in started.stream { break }
        let waited = Flag()
        let collected = try await t.repository.collectGarbage(grace: 0) { waited.set() }
        _ = try await published
        #expect(waited.isSet)
        #expect(collected.removed == 0)
        let v3 = try await t.repository.manifest(name: "t", version: "3")
        #expect(try v3.chunks.allSatisfy { try t.repository.chunks.contains($0.digest) })
    }

    @Test("a catalog made before chunk lists moved into one row per version keeps its versions' chunks through gc")
    func chunkListMigration() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("repo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("catalog.sqlite").path
        let store = try FileChunkStore(dataDirectory: directory)
        let chunks = (0..<3).map { imageBytes(1000, seed: 40 + UInt64($0)) }
        let digests = chunks.map { SHA256.hash(data: $0).hexString }
        for (digest, bytes) in zip(digests, chunks) { try store.put(digest, bytes: bytes) }
        // The schema as it was (migrations 1 and 2), with a version referencing the first two chunks.
        let old = try await SQLiteStore.open(path: path, migrations: [])
        try await Migrator(migrations: Array(Repository.migrations.prefix(2))).apply(to: old)
        try await old.transaction { db in
            try await db.raw("INSERT INTO templates (name, created) VALUES ('t', 'now')").run()
            try await db.raw(
                """
                INSERT INTO versions (name, version, state, format, hypervisor, os_type, display_text, size, sha256, chunk_count, manifest,
                    manifest_digest, published, changed)
                VALUES ('t', '1', 'published', 'QCOW2', 'KVM', 'Other', 't', 2000, 'x', 2, '{}', 'y', 'now', 'now')
                """
            ).run()
            for (position, digest) in digests.prefix(2).enumerated() {
                try await db.raw(
                    """
                    INSERT INTO version_chunks (version_seq, position, digest, offset, length)
                    VALUES (1, \(bind: position), \(bind: digest), \(bind: position * 1000), 1000)
                    """
                ).run()
            }
        }
        let database = try await SQLiteStore.open(path: path, migrations: [])
        let repository = try await Repository.open(dataDirectory: directory, database: database, key: PublisherKey(), parameters: small)
        let report = try await repository.collectGarbage(grace: 0)
        #expect(report.live == 2 && report.removed == 1)
        #expect(try store.allDigests() == digests.prefix(2).sorted())
    }

    @Test("a store that cannot be written fails the publish with a clear error and lists nothing", arguments: TestDatabase.available)
    func storeFailure(backend: TestDatabase) async throws {
        let t = try await TemporaryRepository.make(on: backend)
        defer { t.remove() }
        let path = try t.writeImage(imageBytes(200_000, seed: 31))
        // Every chunk folder name taken by a plain file: no chunk can be written (even by root).
        for i in 0..<256 {
            let name = String(format: "%02x", i)
            try Data().write(to: t.directory.appendingPathComponent("chunks/\(name)"))
        }
        let error = await #expect(throws: TemplateRepositoryError.self) { try await t.repository.publish(imageAt: path, metadata: metadata()) }
        #expect("\(error!)".contains("could not write"))
        #expect(try await t.repository.templates().isEmpty)
    }

    @Test("the catalog is re-signed with a higher serial once half its validity has passed", arguments: TestDatabase.available)
    func catalogRenewal(backend: TestDatabase) async throws {
        let t = try await TemporaryRepository.make(catalogValidity: 3600, on: backend)
        defer { t.remove() }
        _ = try await t.repository.publish(imageAt: try t.writeImage(imageBytes(10_000, seed: 30)), metadata: metadata())
        let now = try await t.repository.signedCatalog(now: Date())
        let same = try await t.repository.signedCatalog(now: Date().addingTimeInterval(60))
        #expect(now == same)
        let later = try await t.repository.signedCatalog(now: Date().addingTimeInterval(1900))
        let decoded = try JSONDecoder().decode(SignedDocument<Catalog>.self, from: Data(later))
        #expect(decoded.signed.serial == 2)
        #expect(decoded.signed.entries.count == 1)
    }
}

/// A flag set from another task.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// Seeded bytes that start with a QCOW2 header (the repository checks what it publishes against its format).
func imageBytes(_ count: Int, seed: UInt64) -> [UInt8] { QCOW2Header.stamped(randomBytes(count, seed: seed)) }
