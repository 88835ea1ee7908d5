import Core
import Crypto
import Foundation
import SQLKit
import Storage

/// Every state change and every refused request: who (token id), role, source address, action, target, a summary
/// of what changed (before → after; never a secret), result — append-only and hash-chained (each entry's hash covers the one before), so that an edited,
/// deleted or inserted row is found by ``verify()``.
public struct AuditLog: Sendable {
    public static let migrations: [Migration] = [
        Migration(
            version: 1002,
            [
                """
                CREATE TABLE audit_log (
                    seq BIGINT PRIMARY KEY,
                    time TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    role TEXT NOT NULL,
                    source TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT NOT NULL,
                    result TEXT NOT NULL,
                    previous TEXT NOT NULL,
                    hash TEXT NOT NULL
                )
                """
            ]),
        // What changed, before → after (entries written before it have none; their hashes do not cover it).
        Migration(version: 1004, ["ALTER TABLE audit_log ADD COLUMN summary TEXT NOT NULL DEFAULT ''"]),
    ]

    /// One entry.
    public struct Entry: Sendable, Hashable, Codable {
        public var sequence: Int
        public var time: String
        /// The token id (`bootstrap`, or `anonymous` for a refused request without valid credentials).
        public var actor: String
        public var role: String
        /// The peer address the request came from.
        public var source: String
        /// `METHOD /route/{template}`.
        public var action: String
        /// The route's parameters, `name=value` joined by `,`.
        public var target: String
        /// The HTTP status, with `refused` for 401/403.
        public var result: String
        /// What the change did, before → after where there was a before (e.g. `state: published → withdrawn`); empty
        /// for refusals and for changes that say nothing more than their action and target. Never a secret.
        public var summary: String
        public var previous: String
        public var hash: String

        public init(
            sequence: Int, time: String, actor: String, role: String, source: String, action: String, target: String, result: String,
            summary: String, previous: String, hash: String
        ) {
            self.sequence = sequence
            self.time = time
            self.actor = actor
            self.role = role
            self.source = source
            self.action = action
            self.target = target
            self.result = result
            self.summary = summary
            self.previous = previous
            self.hash = hash
        }

        /// Reads an entry; one from a server that predates summaries has an empty one.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                sequence: try c.decode(Int.self, forKey: .sequence), time: try c.decode(String.self, forKey: .time),
                actor: try c.decode(String.self, forKey: .actor), role: try c.decode(String.self, forKey: .role),
                source: try c.decode(String.self, forKey: .source), action: try c.decode(String.self, forKey: .action),
                target: try c.decode(String.self, forKey: .target), result: try c.decode(String.self, forKey: .result),
                summary: try c.decodeIfPresent(String.self, forKey: .summary) ?? "", previous: try c.decode(String.self, forKey: .previous),
                hash: try c.decode(String.self, forKey: .hash))
        }

        /// The hash of this entry's fields and the previous hash (SHA-256, hex).
        func computedHash() -> String {
            // The summary joined the entry later: an empty one is left out, so entries written before still verify.
            let fields = [String(sequence), time, actor, role, source, action, target, result] + (summary.isEmpty ? [] : [summary]) + [previous]
            // Length-prefixed, so that no two different field lists hash the same text.
            let text = fields.map { "\($0.utf8.count):\($0)" }.joined(separator: "|")
            return SHA256.hash(data: Array(text.utf8)).hexString
        }
    }

    /// The hash before the first entry.
    static let genesis = String(repeating: "0", count: 64)

    let database: any SQLStore

    public static func open(database: any SQLStore) async throws -> AuditLog {
        try await Migrator(migrations: migrations).apply(to: database)
        return AuditLog(database: database)
    }

    /// Appends an entry (in a write transaction: entries are numbered and chained in order on every instance).
    @discardableResult
    public func append(
        actor: String, role: String, source: String, action: String, target: String, result: String, summary: String = "", now: Date = Date()
    ) async throws -> Entry {
        try await database.transaction { db in
            let last = try await db.raw("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").first()
            var entry = Entry(
                sequence: (try last?.decode(column: "seq", as: Int.self) ?? 0) + 1, time: Timestamps.string(from: now), actor: actor, role: role,
                source: source, action: action, target: target, result: result, summary: summary,
                previous: try last?.decode(column: "hash", as: String.self) ?? Self.genesis, hash: "")
            entry.hash = entry.computedHash()
            try await db.raw(
                """
                INSERT INTO audit_log (seq, time, actor, role, source, action, target, result, summary, previous, hash)
                VALUES (\(bind: entry.sequence), \(bind: entry.time), \(bind: entry.actor), \(bind: entry.role), \(bind: entry.source),
                        \(bind: entry.action), \(bind: entry.target), \(bind: entry.result), \(bind: entry.summary), \(bind: entry.previous),
                        \(bind: entry.hash))
                """
            ).run()
            return entry
        }
    }

    /// Entries, oldest first, optionally since a time (`Timestamps` text), by one actor, or of one action prefix.
    public func entries(since: String? = nil, actor: String? = nil, action: String? = nil, limit: Int = 1000) async throws -> [Entry] {
        try await database.withDatabase { db in
            try await db.raw("SELECT * FROM audit_log ORDER BY seq").all().map(Self.entry).filter { entry in
                (since.map { entry.time >= $0 } ?? true) && (actor.map { entry.actor == $0 } ?? true)
                    && (action.map { entry.action.hasPrefix($0) } ?? true)
            }.suffix(limit).map { $0 }
        }
    }

    /// Recomputes the chain from the first entry.
    /// - Returns: the number of entries checked.
    /// - Throws: ``AccessError/auditBroken(sequence:)`` at the first entry that does not follow from the one before.
    @discardableResult
    public func verify() async throws -> Int {
        let all = try await database.withDatabase { db in try await db.raw("SELECT * FROM audit_log ORDER BY seq").all().map(Self.entry) }
        var previous = Self.genesis
        for (index, entry) in all.enumerated() {
            guard entry.sequence == index + 1, entry.previous == previous, entry.computedHash() == entry.hash else {
                throw AccessError.auditBroken(sequence: index + 1)
            }
            previous = entry.hash
        }
        return all.count
    }

    static func entry(_ row: any SQLRow) throws -> Entry {
        Entry(
            sequence: try row.decode(column: "seq", as: Int.self), time: try row.decode(column: "time", as: String.self),
            actor: try row.decode(column: "actor", as: String.self), role: try row.decode(column: "role", as: String.self),
            source: try row.decode(column: "source", as: String.self), action: try row.decode(column: "action", as: String.self),
            target: try row.decode(column: "target", as: String.self), result: try row.decode(column: "result", as: String.self),
            summary: try row.decode(column: "summary", as: String.self),
            previous: try row.decode(column: "previous", as: String.self), hash: try row.decode(column: "hash", as: String.self))
    }
}
