import Core
import Crypto
import Foundation
import SQLKit
import Storage

/// Builds, their logs, their one-time callbacks and the recipes registered for scheduled rebuilds, on either
/// storage backend — so that any server on the database can answer for a build, take its guest's callback,
/// or run the schedule.
public struct BuildStore: Sendable {
    public static let migrations: [Migration] = [
        Migration(
            version: 1200,
            [
                """
                CREATE TABLE builds (
                    id TEXT PRIMARY KEY, recipe TEXT NOT NULL, region TEXT NOT NULL, state TEXT NOT NULL, step TEXT,
                    started DOUBLE PRECISION NOT NULL, report TEXT NOT NULL, callback_hash TEXT, callback_report TEXT
                )
                """,
                "CREATE INDEX builds_started ON builds (started)",
                """
                CREATE TABLE build_log (
                    build_id TEXT NOT NULL, sequence INTEGER NOT NULL, time TEXT NOT NULL, step TEXT, text TEXT NOT NULL,
                    PRIMARY KEY (build_id, sequence)
                )
                """,
                """
                CREATE TABLE build_recipes (
                    name TEXT PRIMARY KEY, region TEXT NOT NULL, recipe TEXT NOT NULL, schedule TEXT, next_due DOUBLE PRECISION,
                    updated TEXT NOT NULL
                )
                """,
            ])
    ]

    let database: any SQLStore

    public init(database: any SQLStore) { self.database = database }

    /// Opens the store, applying its migrations.
    public static func open(database: any SQLStore) async throws -> BuildStore {
        try await Migrator(migrations: migrations).apply(to: database)
        return BuildStore(database: database)
    }

    // MARK: Builds

    /// Records a build as running (once: recording it again, as the builder does for a build the API recorded, changes nothing).
    public func start(_ report: BuildReport, now: Date) async throws {
        let text = try Self.encode(report)
        try await database.transaction { db in
            try await db.raw(
                """
                INSERT INTO builds (id, recipe, region, state, step, started, report)
                VALUES (\(bind: report.id), \(bind: report.recipe), \(bind: report.region), \(bind: report.state.rawValue),
                        \(bind: report.step?.rawValue), \(bind: now.timeIntervalSince1970), \(bind: text))
                ON CONFLICT (id) DO NOTHING
                """
            ).run()
        }
    }

    /// Saves a build's report as it stands (its state and step too).
    public func save(_ report: BuildReport) async throws {
        let text = try Self.encode(report)
        try await database.transaction { db in
            try await db.raw(
                """
                UPDATE builds SET state = \(bind: report.state.rawValue), step = \(bind: report.step?.rawValue), report = \(bind: text)
                WHERE id = \(bind: report.id)
                """
            ).run()
        }
    }

    /// A build's report.
    /// - Throws: ``BuilderError`` `notFound`.
    public func report(_ id: String) async throws -> BuildReport {
        let row = try await database.withDatabase { db in try await db.raw("SELECT report FROM builds WHERE id = \(bind: id)").first() }
        guard let row else { throw BuilderError.notFound("No build \(id): `mclouds template builds` lists them.") }
        return try Self.decode(try row.decode(column: "report", as: String.self))
    }

    /// The newest builds first, at most `limit`, of one recipe or all.
    public func reports(recipe: String? = nil, limit: Int = 50) async throws -> [BuildReport] {
        try await database.withDatabase { db in
            let rows: [any SQLRow]
            if let recipe {
                rows = try await db.raw("SELECT report FROM builds WHERE recipe = \(bind: recipe) ORDER BY started DESC LIMIT \(bind: limit)").all()
            } else {
                rows = try await db.raw("SELECT report FROM builds ORDER BY started DESC LIMIT \(bind: limit)").all()
            }
            return try rows.map { try Self.decode(try $0.decode(column: "report", as: String.self)) }
        }
    }

    /// Whether a build of `recipe` is running now (on any server).
    public func running(recipe: String) async throws -> Bool {
        try await database.withDatabase { db in
            try await db.raw("SELECT id FROM builds WHERE recipe = \(bind: recipe) AND state = \(bind: BuildState.running.rawValue)").first() != nil
        }
    }

    /// Marks builds left running by a server that stopped (or died) as failed, naming their last step.
    /// - Returns: how many there were.
    public func failAbandoned(olderThan cutoff: Date, now: Date) async throws -> Int {
        let rows = try await database.withDatabase { db in
            try await db.raw(
                "SELECT report FROM builds WHERE state = \(bind: BuildState.running.rawValue) AND started < \(bind: cutoff.timeIntervalSince1970)"
            ).all()
        }
        for row in rows {
            var report: BuildReport = try Self.decode(try row.decode(column: "report", as: String.self))
            report.state = .failed
            report.failedStep = report.step
            report.error = "the server running the build stopped; its builder VM and temporary template (named mclouds-build-…) may need removing"
            report.finished = Timestamps.string(from: now)
            try await save(report)
        }
        return rows.count
    }

    // MARK: Log

    /// Appends a line to a build's log.
    @discardableResult
    public func log(_ id: String, step: BuildStep?, _ text: String, now: Date) async throws -> BuildLogLine {
        try await database.transaction { db in
            let last = try await db.raw("SELECT MAX(sequence) AS last FROM build_log WHERE build_id = \(bind: id)").first()
            let sequence = (try last?.decode(column: "last", as: Int?.self) ?? 0) + 1
            let line = BuildLogLine(sequence: sequence, time: Timestamps.string(from: now), step: step, text: text)
            try await db.raw(
                """
                INSERT INTO build_log (build_id, sequence, time, step, text)
                VALUES (\(bind: id), \(bind: sequence), \(bind: line.time), \(bind: step?.rawValue), \(bind: text))
                """
            ).run()
            return line
        }
    }

    /// A build's log lines after `sequence` (0: from the start), at most `limit`.
    public func log(_ id: String, after sequence: Int = 0, limit: Int = 1000) async throws -> [BuildLogLine] {
        try await database.withDatabase { db in
            try await db.raw(
                """
                SELECT sequence, time, step, text FROM build_log WHERE build_id = \(bind: id) AND sequence > \(bind: sequence)
                ORDER BY sequence LIMIT \(bind: limit)
                """
            ).all().map { row in
                BuildLogLine(
                    sequence: try row.decode(column: "sequence", as: Int.self), time: try row.decode(column: "time", as: String.self),
                    step: try row.decode(column: "step", as: String?.self).flatMap(BuildStep.init(rawValue:)),
                    text: try row.decode(column: "text", as: String.self))
            }
        }
    }

    // MARK: Callback

    /// Makes the one-time token a build's guest reports with; only its hash is stored.
    public func openCallback(_ id: String) async throws -> String {
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString
        let hash = Self.hash(token)
        try await database.transaction { db in
            try await db.raw("UPDATE builds SET callback_hash = \(bind: hash), callback_report = NULL WHERE id = \(bind: id)").run()
        }
        return token
    }

    /// Takes a guest's report: only with the build's token, only once, only while the build runs.
    /// - Throws: ``BuilderError`` `refused` for a wrong or used token or a finished build, `notFound` for no such build.
    public func acceptCallback(_ id: String, token: String, report: GuestReport) async throws {
        let text = try Self.encode(report)
        let hash = Self.hash(token)
        try await database.transaction { db in
            guard let row = try await db.raw("SELECT state, callback_hash FROM builds WHERE id = \(bind: id)").first() else {
                throw BuilderError.notFound("No build \(id).")
            }
            let stored = try row.decode(column: "callback_hash", as: String?.self)
            guard try row.decode(column: "state", as: String.self) == BuildState.running.rawValue, let stored,
                Self.constantTimeEqual(stored, hash)
            else {
                throw BuilderError.refused("This build callback is not valid: its token is wrong or was used, or the build has ended.")
            }
            // One use: the hash goes, so the same token (or a replay of the request) is refused from now on.
            try await db.raw("UPDATE builds SET callback_hash = NULL, callback_report = \(bind: text) WHERE id = \(bind: id)").run()
        }
    }

    /// The report a build's guest posted, once it has.
    public func callbackReport(_ id: String) async throws -> GuestReport? {
        let row = try await database.withDatabase { db in try await db.raw("SELECT callback_report FROM builds WHERE id = \(bind: id)").first() }
        guard let text = try row?.decode(column: "callback_report", as: String?.self) else { return nil }
        return try Self.decode(text)
    }

    // MARK: Registered recipes

    /// A recipe registered for builds by name (and, with a schedule, for rebuilds).
    public struct RegisteredRecipe: Codable, Sendable, Hashable {
        public var name: String
        public var region: String
        public var text: String
        public var schedule: RebuildSchedule?
        /// When the next scheduled rebuild is due (seconds since 1970).
        public var nextDue: Double?
        public var updated: String
    }

    /// Registers (or replaces) a recipe for `region`; a scheduled one is next due at its schedule's next time.
    public func register(_ recipe: Recipe, region: String, now: Date) async throws -> RegisteredRecipe {
        let next = recipe.schedule?.next(after: now).timeIntervalSince1970
        let schedule = try recipe.schedule.map { try Self.encode($0) }
        let updated = Timestamps.string(from: now)
        try await database.transaction { db in
            try await db.raw("DELETE FROM build_recipes WHERE name = \(bind: recipe.name)").run()
            try await db.raw(
                """
                INSERT INTO build_recipes (name, region, recipe, schedule, next_due, updated)
                VALUES (\(bind: recipe.name), \(bind: region), \(bind: recipe.text), \(bind: schedule), \(bind: next), \(bind: updated))
                """
            ).run()
        }
        return RegisteredRecipe(name: recipe.name, region: region, text: recipe.text, schedule: recipe.schedule, nextDue: next, updated: updated)
    }

    /// Every registered recipe, by name.
    public func recipes() async throws -> [RegisteredRecipe] {
        try await database.withDatabase { db in
            try await db.raw("SELECT * FROM build_recipes ORDER BY name").all().map { row in
                RegisteredRecipe(
                    name: try row.decode(column: "name", as: String.self), region: try row.decode(column: "region", as: String.self),
                    text: try row.decode(column: "recipe", as: String.self),
                    schedule: try row.decode(column: "schedule", as: String?.self).map { try Self.decode($0) },
                    nextDue: try row.decode(column: "next_due", as: Double?.self), updated: try row.decode(column: "updated", as: String.self))
            }
        }
    }

    /// Removes a registered recipe.
    /// - Throws: ``BuilderError`` `notFound`.
    public func unregister(_ name: String) async throws {
        try await database.transaction { db in
            guard try await db.raw("SELECT name FROM build_recipes WHERE name = \(bind: name)").first() != nil else {
                throw BuilderError.notFound("No registered recipe \(name): `mclouds template recipe list` shows them.")
            }
            try await db.raw("DELETE FROM build_recipes WHERE name = \(bind: name)").run()
        }
    }

    /// Sets when a scheduled recipe's next rebuild is due (the scheduler does, under its lease, as it starts one).
    public func scheduleNext(_ name: String, at next: Date) async throws {
        try await database.transaction { db in
            try await db.raw("UPDATE build_recipes SET next_due = \(bind: next.timeIntervalSince1970) WHERE name = \(bind: name)").run()
        }
    }

    // MARK: Encoding

    static func hash(_ token: String) -> String { Array(SHA256.hash(data: Array(token.utf8))).hexString }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ text: String) throws -> T { try JSONDecoder().decode(T.self, from: Data(text.utf8)) }
}
