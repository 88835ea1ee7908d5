import Foundation
import Logging
import NIOPosix
import SQLKit
import SQLiteKit

/// An SQLite database file reached through SQLKit.
///
/// Every operation opens its own connection (cheap for SQLite) and closes it afterwards, so any number
/// of tasks and processes can share the file: SQLite's locks order the writers, and `busy_timeout`
/// makes a writer wait for another instead of failing. The file runs in WAL mode, so readers never
/// wait for a writer.
///
/// ```swift
/// let store = try await SQLiteStore.open(path: "data/catalog.sqlite", migrations: schema)
/// try await store.transaction { db in try await db.raw("INSERT …").run() }
/// ```
public struct SQLiteStore: Sendable {
    /// The database file.
    public let path: String
    let logger: Logger

    init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
    }

    /// Opens (creating if needed) the database at `path` and applies the migrations it has not seen yet.
    /// - Throws: ``StorageError`` when the file cannot be opened or a migration fails.
    public static func open(path: String, migrations: [Migration], logger: Logger = Logger(label: "mclouds.storage")) async throws -> SQLiteStore {
        let store = SQLiteStore(path: path, logger: logger)
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try await store.withDatabase { db in
            try await db.raw("PRAGMA journal_mode = WAL").run()
        }
        try await Migrator(migrations: migrations).apply(to: store)
        return store
    }

    /// Runs `body` with a connection of its own.
    /// - Throws: ``StorageError`` for database failures; whatever `body` throws otherwise.
    public func withDatabase<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: .singleton, logger: logger, on: MultiThreadedEventLoopGroup.singleton.any())
        } catch {
            throw StorageError.unavailable(path: path, reason: "\(error)")
        }
        let db = connection.sql()
        do {
            try await db.raw("PRAGMA busy_timeout = 30000").run()
            try await db.raw("PRAGMA foreign_keys = ON").run()
            let result = try await body(db)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw StorageError.wrap(error, path: path)
        }
    }

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE`): all of it is committed, or none of it.
    /// - Throws: ``StorageError`` for database failures; whatever `body` throws otherwise (then rolled back).
    public func transaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await withDatabase { db in
            try await db.raw("BEGIN IMMEDIATE").run()
            do {
                let result = try await body(db)
                try await db.raw("COMMIT").run()
                return result
            } catch {
                try? await db.raw("ROLLBACK").run()
                throw error
            }
        }
    }
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
struct Migrator: Sendable {
    let migrations: [Migration]

    func apply(to store: SQLiteStore) async throws {
        try await store.withDatabase { db in
            try await db.raw("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)").run()
        }
        for migration in migrations.sorted(by: { $0.version < $1.version }) {
            try await store.transaction { db in
                let done = try await db.raw("SELECT version FROM schema_migrations WHERE version = \(bind: migration.version)").first()
                if done != nil { return }
                for statement in migration.statements {
                    try await db.raw(SQLQueryString(statement)).run()
                }
                try await db.raw(
                    "INSERT INTO schema_migrations (version, applied) VALUES (\(bind: migration.version), \(bind: Date().timeIntervalSince1970.description))"
                ).run()
            }
        }
    }
}

/// A database failure, with what to do about it.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String

    static func unavailable(path: String, reason: String) -> StorageError {
        StorageError(path: path, reason: "cannot open it (\(reason)); check that the data directory exists and is writable")
    }

    static func wrap(_ error: any Error, path: String) -> any Error {
        // Errors from the caller's own code pass through; only the database's own are wrapped.
        if error is SQLiteError { return StorageError(path: path, reason: "\(error)") }
        return error
    }

    public var description: String { "Database \(path): \(reason)." }
}
