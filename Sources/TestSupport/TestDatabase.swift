import Foundation
import Storage

/// The storage backends a storage-dependent test runs on: SQLite always, PostgreSQL when `scripts/test` has
/// started its throwaway cluster (`MCLOUDS_TEST_POSTGRES_URL`). When the test command requires PostgreSQL
/// (`MCLOUDS_REQUIRE_POSTGRES=1`) and it is missing, opening it fails the test instead of skipping it.
public enum TestDatabase: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }

    static var postgresURL: String? { ProcessInfo.processInfo.environment["MCLOUDS_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 } }
    static var postgresRequired: Bool { ProcessInfo.processInfo.environment["MCLOUDS_REQUIRE_POSTGRES"] == "1" }

    /// The backends to run on here; without PostgreSQL (and not required) only SQLite, said once on standard error.
    public static var available: [TestDatabase] {
        if postgresURL != nil || postgresRequired { return [.sqlite, .postgres] }
        announceSkip
        return [.sqlite]
    }

    private static let announceSkip: Void = {
        FileHandle.standardError.write(
            Data("warning: PostgreSQL was skipped (MCLOUDS_TEST_POSTGRES_URL is not set); scripts/test starts a cluster and runs both\n".utf8))
    }()

    /// A fresh, empty database of this kind: a file in `directory`, or a new database in the test cluster.
    public func open(in directory: URL, migrations: [Migration]) async throws -> any SQLStore {
        switch self {
        case .sqlite:
            return try await SQLiteStore.open(path: directory.appendingPathComponent("catalog.sqlite").path, migrations: migrations)
        case .postgres:
            return try await PostgresStore.open(.init(url: try await Self.newPostgresDatabase(), poolSize: 4), migrations: migrations)
        }
    }

    /// A new, empty database in the test cluster: its URL (what `mclouds server --database-url` takes).
    public static func newPostgresDatabase() async throws -> String {
        guard let admin = postgresURL else {
            throw StorageError(path: "MCLOUDS_TEST_POSTGRES_URL", reason: "scripts/test requires PostgreSQL and none was started")
        }
        return try await PostgresStore.createUniqueDatabase(prefix: "t_", adminURL: admin)
    }
}
