import Core
import Foundation
import Logging
import NIOPosix
import SQLKit
import SQLiteKit

/// An SQLite database file, the embedded default store.
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
public struct SQLiteStore: SQLStore {
    /// The database file.
    public let path: String
    let logger: Logger

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
        } catch let error as SQLiteError {
            try? await connection.close()
            throw StorageError(path: path, reason: "\(error)")
        } catch {
            try? await connection.close()
            throw error
        }
    }

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
