import Core
import Foundation
import Logging
import NIOPosix
import SQLKit
import SQLiteKit
import Synchronization

/// An SQLite database file, the embedded default store.
///
/// Every operation has a connection of its own for its duration — taken from a small pool of idle ones
/// (opening one costs a file open and two pragmas), or opened — so any number of tasks and processes can
/// share the file: SQLite's locks order the writers, and `busy_timeout` makes a writer wait for another
/// instead of failing. The file runs in WAL mode, so readers never wait for a writer.
///
/// ```swift
/// let store = try await SQLiteStore.open(path: "data/catalog.sqlite", migrations: schema)
/// try await store.transaction { db in try await db.raw("INSERT …").run() }
/// ```
public struct SQLiteStore: SQLStore {
    /// The database file.
    public let path: String
    let logger: Logger
    private let idle = IdleConnections()

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

    public func withDatabase<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let connection: SQLiteConnection
        if let reused = idle.take() { connection = reused } else { connection = try await open() }
        do {
            let result = try await body(connection.sql())
            await idle.give(back: connection)
            return result
        } catch let error as SQLiteError {
            try? await connection.close()
            throw StorageError(path: path, reason: "\(error)")
        } catch {
            // The connection may be mid-statement (a cancelled task): do not reuse it.
            try? await connection.close()
            throw error
        }
    }

    private func open() async throws -> SQLiteConnection {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: .singleton, logger: logger, on: MultiThreadedEventLoopGroup.singleton.any())
        } catch {
            throw StorageError.unavailable(path: path, reason: "\(error)")
        }
        do {
            let db = connection.sql()
            try await db.raw("PRAGMA busy_timeout = 30000").run()
            try await db.raw("PRAGMA foreign_keys = ON").run()
            return connection
        } catch {
            try? await connection.close()
            throw StorageError(path: path, reason: "\(error)")
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

/// Idle connections kept for reuse (at most `limit`; the rest are closed).
private final class IdleConnections: Sendable {
    private let connections = Mutex<[SQLiteConnection]>([])
    private let limit = 8

    func take() -> SQLiteConnection? {
        connections.withLock { $0.popLast() }
    }

    func give(back connection: SQLiteConnection) async {
        let kept = connections.withLock { idle -> Bool in
            guard idle.count < limit else { return false }
            idle.append(connection)
            return true
        }
        if !kept { try? await connection.close() }
    }

    deinit {
        for connection in connections.withLock({ $0 }) { _ = connection.close() }
    }
}
