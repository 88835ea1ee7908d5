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
            await Self.close(connection)
            throw StorageError(path: path, reason: "\(error)")
        } catch {
            // The connection may be mid-statement (a cancelled task): do not reuse it.
            await Self.close(connection)
            throw error
        }
    }

    /// Closes a connection also from a cancelled task (the async `close()` gives up when its task is cancelled, and
    /// an unclosed connection trips SQLiteNIO's assertion when it goes away).
    static func close(_ connection: SQLiteConnection) async {
        try? await connection.close().get()
    }

    private func open() async throws -> SQLiteConnection {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: Self.threads, logger: driverLogger(logger), on: MultiThreadedEventLoopGroup.singleton.any())
        } catch {
            throw StorageError.unavailable(path: path, reason: "\(error)")
        }
        do {
            let db = connection.sql()
            try await db.raw("PRAGMA busy_timeout = 30000").run()
            try await db.raw("PRAGMA foreign_keys = ON").run()
            return connection
        } catch {
            await Self.close(connection)
            throw StorageError(path: path, reason: "\(error)")
        }
    }

    /// Write transactions of this process take turns per database file, in the order they come: only one at a
    /// time waits in `BEGIN IMMEDIATE` (for another process, if any). Without the turns, writers blocked in
    /// SQLite's busy wait held every thread of the pool the lock holder needed to commit, until the busy
    /// timeout failed them.
    public func transaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await WriterTurns.forFile(path).take { try await writeTransaction(body) }
    }

    private func writeTransaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await withDatabase { db in try await committing(db, begin: "BEGIN IMMEDIATE") { try await body(db) } }
    }
}

extension SQLiteStore {
    /// The threads SQLite's blocking calls run on: a pool of their own, so that they never take the threads
    /// other blocking work (file I/O) needs, nor it theirs.
    static let threads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()
}

/// Turns for the write transactions of this process on one database file: one at a time, first come first
/// served (a waiter is handed the turn directly, so none is overtaken).
final class WriterTurns: Sendable {
    private struct State {
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private static let byFile = Mutex<[String: WriterTurns]>([:])

    /// The turns for `path` (one per file in the process, whichever store opened it).
    static func forFile(_ path: String) -> WriterTurns {
        let key = URL(fileURLWithPath: path).standardizedFileURL.path
        return byFile.withLock { turns in
            if let existing = turns[key] { return existing }
            let made = WriterTurns()
            turns[key] = made
            return made
        }
    }

    /// Runs `body` in this file's next turn.
    func take<R: Sendable>(_ body: () async throws -> R) async throws -> R {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.busy {
                    state.waiting.append(continuation)
                    return false
                }
                state.busy = true
                return true
            }
            if now { continuation.resume() }
        }
        defer {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard !state.waiting.isEmpty else {
                    state.busy = false
                    return nil
                }
                return state.waiting.removeFirst()
            }
            next?.resume()
        }
        return try await body()
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
        if !kept { await SQLiteStore.close(connection) }
    }

    deinit {
        for connection in connections.withLock({ $0 }) { _ = connection.close() }
    }
}
