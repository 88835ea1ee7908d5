import Core
import Foundation
import Logging
import SQLKit
import Storage

/// What ``Repository/scrub(repair:mirrors:progress:)`` found and did.
public struct ScrubReport: Codable, Sendable, Hashable {
    /// Chunks read and hashed.
    public var checked = 0
    public var checkedBytes: Int64 = 0
    /// Chunks that no longer hash to their digest (damaged on disk), sorted.
    public var damaged: [String] = []
    /// Damaged chunks replaced by verified bytes from a mirror.
    public var repaired: [String] = []
    /// Damaged chunks removed (no mirror had them): the next upload or publish of them stores them again.
    public var removed: [String] = []
    /// Versions (`name@version`) that use a damaged chunk that is not repaired: no site can fetch them whole
    /// until their image is published again.
    public var affectedVersions: [String] = []

    public init() {}

    /// True when every stored chunk is intact, or was repaired.
    public var isHealthy: Bool { damaged.count == repaired.count }
}

extension Repository {
    /// The lease a scheduled scrub holds in the database: servers sharing one chunk store take turns.
    public static let scrubLease = "repository-scrub"

    /// A scheduled scrub (no repair), run by one server at a time across every instance on this database.
    /// - Returns: the report, or `nil` when another instance is scrubbing the shared store now.
    public func scrubUnlessRunningElsewhere() async throws -> ScrubReport? {
        try await LeaseStore(store: database).withLease(Self.scrubLease, duration: 600, wait: false) { try await scrub() }
    }

    /// Reads and hashes every stored chunk (a scrub). With `repair`, a damaged chunk is fetched from the
    /// `mirrors` (verified before it replaces the stored file) or, when none has it, removed — a missing chunk
    /// is asked for again by the next remote publish and restored by a local one, where a damaged one would
    /// be served to every site.
    /// - Parameter progress: called with the chunks checked so far.
    public func scrub(repair: Bool = false, mirrors: [String] = [], progress: (@Sendable (Int) -> Void)? = nil) async throws -> ScrubReport {
        let store = chunks
        var report = try await offloaded {
            var report = ScrubReport()
            for digest in try store.allDigests() {
                let bytes: [UInt8]
                do {
                    bytes = try store.get(digest)
                } catch let error as TemplateRepositoryError where error.isMissingChunk {
                    continue  // removed meanwhile (gc)
                }
                report.checked += 1
                report.checkedBytes += Int64(bytes.count)
                if SHA256Stream.hex(bytes) != digest { report.damaged.append(digest) }
                if report.checked % 1024 == 0 { progress?(report.checked) }
            }
            progress?(report.checked)
            return report
        }
        if !report.damaged.isEmpty {
            logger.error(
                "stored chunks do not match their digests",
                metadata: ["chunks": .stringConvertible(report.damaged.count), "chunk.digest": "\(report.damaged[0])"])
        }
        guard repair else {
            report.affectedVersions = try await versions(using: Set(report.damaged))
            return report
        }
        for digest in report.damaged {
            var restored = false
            for mirror in mirrors where !restored {
                guard let bytes = try? await RepositoryClient(baseURL: mirror).verifiedChunk(digest) else { continue }
                restored = (try? store.put(digest, bytes: bytes)) != nil
            }
            if restored {
                report.repaired.append(digest)
                logger.info("damaged chunk restored from a mirror", metadata: ["chunk.digest": "\(digest)"])
            } else {
                try store.remove(digest)
                report.removed.append(digest)
            }
        }
        report.affectedVersions = try await versions(using: Set(report.removed))
        return report
    }

    /// The versions (`name@version`, not withdrawn) whose images use any of `digests`.
    func versions(using digests: Set<String>) async throws -> [String] {
        guard !digests.isEmpty else { return [] }
        return try await database.withDatabase { db in
            var found: [String] = []
            for row in try await db.raw(
                "SELECT v.name, v.version, d.digests FROM version_digests d JOIN versions v ON v.seq = d.version_seq WHERE v.state != 'withdrawn' ORDER BY v.seq"
            ).all() {
                let used = try VersionDigests.decode(row.decode(column: "digests", as: String.self))
                if used.contains(where: digests.contains) {
                    found.append("\(try row.decode(column: "name", as: String.self))@\(try row.decode(column: "version", as: String.self))")
                }
            }
            return found
        }
    }
}
