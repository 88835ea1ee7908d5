import Foundation
import Logging
import SQLKit

/// A database reached through SQLKit. Each call gets a connection of its own for its duration, so
/// callers never share a session; which driver sits behind it (SQLite, PostgreSQL) is the composing
/// layer's choice.
public protocol SQLStore: Sendable {
    /// Runs `body` with a connection of its own.
    func withDatabase<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// Runs `body` in one write transaction: all of it is committed, or none of it.
    func transaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R
    /// A migration's statement in this database's words (the schemas are written in the SQL both engines share,
    /// with SQLite's `INTEGER PRIMARY KEY AUTOINCREMENT` for identity columns).
    func translate(ddl: String) -> String
}

extension SQLStore {
    public func translate(ddl: String) -> String { ddl }
}

/// Runs `body` between `begin` and `COMMIT` on one connection, rolling back when it throws (the stores' shared
/// transaction frame; each says how it begins).
func committing<R: Sendable>(_ db: any SQLDatabase, begin: SQLQueryString, _ body: () async throws -> R) async throws -> R {
    try await db.raw(begin).run()
    do {
        let result = try await body()
        try await db.raw("COMMIT").run()
        return result
    } catch {
        try? await db.raw("ROLLBACK").run()
        throw error
    }
}

/// The logger the database drivers get: never below `info`, because at `debug` and `trace` they print every
/// statement with its bound values (API keys, token hashes, sealed secrets).
func driverLogger(_ logger: Logger) -> Logger {
    var clamped = logger
    clamped.logLevel = max(logger.logLevel, .info)
    return clamped
}

/// One step of a schema: its number (increasing, never reused) and the statements that make it.
public struct Migration: Sendable {
    public let version: Int
    public let statements: [String]

    public init(version: Int, _ statements: [String]) {
        self.version = version
        self.statements = statements
    }
}

/// Applies migrations in order, each in its own transaction, recording them in `schema_migrations`.
public struct Migrator: Sendable {
    public let migrations: [Migration]

    public init(migrations: [Migration]) { self.migrations = migrations }

    public func apply(to store: any SQLStore) async throws {
        // In a transaction too: the stores serialise their write transactions (across processes on PostgreSQL),
        // so two servers starting at once never race on the schema.
        try await store.transaction { db in
            try await db.raw("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied TEXT NOT NULL)").run()
        }
        for migration in migrations.sorted(by: { $0.version < $1.version }) {
            try await store.transaction { db in
                let done = try await db.raw("SELECT version FROM schema_migrations WHERE version = \(bind: migration.version)").first()
                if done != nil { return }
                for statement in migration.statements {
                    try await db.raw(SQLQueryString(store.translate(ddl: statement))).run()
                }
                try await db.raw(
                    "INSERT INTO schema_migrations (version, applied) VALUES (\(bind: migration.version), \(bind: Date().timeIntervalSince1970.description))"
                ).run()
            }
        }
    }
}

/// A database failure, with what to do about it.
public struct StorageError: Error, Sendable, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public static func unavailable(path: String, reason: String) -> StorageError {
        StorageError(path: path, reason: "cannot open it (\(reason)); check that the data directory exists and is writable")
    }

    /// A read found no mClouds data directory (no `catalog.sqlite`) where it was pointed; nothing was created.
    public static func noDataDirectory(path: String) -> StorageError {
        StorageError(
            path: path,
            reason: "there is no mClouds data directory here (no catalog.sqlite); check --data, or create one by publishing a template "
                + "or starting `mclouds server --data \(path)`")
    }

    public var description: String { "Database \(path): \(reason)." }
}
