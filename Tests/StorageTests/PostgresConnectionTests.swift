import Foundation
import SQLKit
import Storage
import TestSupport
import Testing

@Suite("PostgreSQL connections")
struct PostgresConnectionTests {
    @Test(
        "every pooled connection ended by the server (as a restart does): the next reads and writes run on new connections",
        .enabled(if: TestDatabase.available.contains(.postgres)))
    func lostConnections() async throws {
        let url = try await TestDatabase.newPostgresDatabase()
        let migration = Migration(version: 1, ["CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"])
        let store = try await PostgresStore.open(.init(url: url, poolSize: 3), migrations: [migration])
        // Fill the pool: three connections in use at once.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in 1...3 {
                group.addTask {
                    try await store.transaction { db in
                        try await db.raw("INSERT INTO notes (id, text) VALUES (\(bind: id), 'before')").run()
                    }
                }
            }
            try await group.waitForAll()
        }
        // An administrator (or a restart) ends every connection of this database but its own.
        let admin = try await PostgresStore.open(.init(url: url, poolSize: 1), migrations: [])
        let ended = try await admin.withDatabase { db in
            try await db.raw(
                "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).all().count
        }
        #expect(ended >= 1)
        // One after another (postgres-nio 1.x can leave a query waiting forever on a connection that closes while
        // the pool hands it out; the pool notices a closed idle connection within milliseconds).
        try await Task.sleep(for: .milliseconds(200))
        for id in 4...9 {
            try await store.transaction { db in try await db.raw("INSERT INTO notes (id, text) VALUES (\(bind: id), 'after')").run() }
        }
        let count = try await store.withDatabase { db in
            try await db.raw("SELECT COUNT(*) AS n FROM notes").first()!.decode(column: "n", as: Int.self)
        }
        #expect(count == 9)
    }
}

extension PostgresConnectionTests {
    @Test("what runs again: reads on a lost connection; writes only when rolled back for a race (40001, 40P01)")
    func retryClassification() {
        #expect(PostgresStore.retryableStates.contains("40001") && PostgresStore.retryableStates.contains("40P01"))
        #expect(PostgresStore.isLostConnectionState("57P01") && PostgresStore.isLostConnectionState("08006"))
        #expect(!PostgresStore.isLostConnectionState("23505") && !PostgresStore.retryableStates.contains("23505"))
    }
}

extension PostgresConnectionTests {
    @Test(
        "five servers starting at the same moment on a new database apply each migration once",
        .enabled(if: TestDatabase.available.contains(.postgres)))
    func concurrentMigrations() async throws {
        let url = try await TestDatabase.newPostgresDatabase()
        let migrations = [
            Migration(version: 1, ["CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT NOT NULL)"]),
            Migration(version: 2, ["ALTER TABLE a ADD COLUMN extra BLOB", "INSERT INTO a (note) VALUES ('seeded once')"]),
            LeaseStore.migration,
        ]
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<5 { group.addTask { try await PostgresStore.open(.init(url: url, poolSize: 2), migrations: migrations) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let (applied, seeded) = try await stores[0].withDatabase { db in
            (
                try await db.raw("SELECT version FROM schema_migrations ORDER BY version").all().map {
                    try $0.decode(column: "version", as: Int.self)
                },
                try await db.raw("SELECT COUNT(*) AS n FROM a").first()!.decode(column: "n", as: Int.self)
            )
        }
        #expect(applied == [1, 2, 900] && seeded == 1, "\(applied), \(seeded)")
    }
}
