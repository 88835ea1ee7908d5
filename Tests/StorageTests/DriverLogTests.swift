import Foundation
import Logging
import SQLKit
import Storage
import Synchronization
import TestSupport
import Testing

/// Collects every log line (message and metadata) in memory.
@Suite("Database driver logs")
struct DriverLogTests {
    @Test("at trace level, no statement's bound values reach the log (API keys, token hashes)", arguments: TestDatabase.available)
    func noBindsInLogs(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let captured = CapturedLog()
            var logger = Logger(label: "test.storage") { _ in captured.handler }
            logger.logLevel = .trace
            let migration = Migration(version: 1, ["CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)"])
            let store: any SQLStore
            switch backend {
            case .sqlite:
                store = try await SQLiteStore.open(path: directory.appendingPathComponent("db.sqlite").path, migrations: [migration], logger: logger)
            case .postgres:
                store = try await PostgresStore.open(
                    .init(url: try await TestDatabase.newPostgresDatabase(), poolSize: 2), migrations: [migration], logger: logger)
            }
            let secret = "api-key-\(UUID().uuidString)"
            try await store.transaction { db in try await db.raw("INSERT INTO secrets (name, value) VALUES ('k', \(bind: secret))").run() }
            let read = try await store.withDatabase { db in
                try await db.raw("SELECT value FROM secrets WHERE value = \(bind: secret)").first()?.decode(column: "value", as: String.self)
            }
            #expect(read == secret)
            #expect(!captured.lines.withLock { $0 }.contains { $0.contains(secret) })
        }
    }
}
