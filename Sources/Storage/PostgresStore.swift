import Foundation
import Logging
import NIOSSL
import PostgresKit
import SQLKit

/// A PostgreSQL database, for several servers sharing one catalog. Connections come from a pool
/// (``Configuration/poolSize``); a lost connection is replaced by the pool, the failed call answers an
/// error. Write transactions take a transaction-scoped advisory lock first, so they are serialised across
/// every process on the database as SQLite serialises them — a check-then-write (a publish, a lease) can
/// never interleave with another.
///
/// ```swift
/// let store = try await PostgresStore.open(url: "postgres://mclouds@127.0.0.1:5432/mclouds", password: secret, migrations: schema)
/// ```
public final class PostgresStore: SQLStore {
    /// How to reach the database.
    public struct Configuration: Sendable {
        public var url: String
        /// The password (else the URL's, if any).
        public var password: String?
        public var poolSize: Int = 10

        public init(url: String, password: String? = nil, poolSize: Int = 10) {
            self.url = url
            self.password = password
            self.poolSize = poolSize
        }
    }

    public let configuration: Configuration
    let client: PostgresClient
    private let running: Task<Void, Never>
    let logger: Logger

    /// The key of the advisory lock write transactions take (any constant; one per database).
    static let writerLock: Int64 = 0x6D63_6C6F_7564_73

    private init(configuration: Configuration, client: PostgresClient, logger: Logger) {
        self.configuration = configuration
        self.client = client
        self.logger = logger
        running = Task { await client.run() }
    }

    deinit { running.cancel() }

    /// Connects to the database at `url` (`postgres://user@host:port/database?sslmode=disable|prefer|require`)
    /// and applies the migrations it has not seen yet.
    /// - Throws: ``StorageError`` when the URL is not usable or the database cannot be reached.
    public static func open(
        _ configuration: Configuration, migrations: [Migration], logger: Logger = Logger(label: "mclouds.storage")
    ) async throws -> PostgresStore {
        let shown = Self.redacted(configuration.url)
        let parsed: SQLPostgresConfiguration
        do {
            parsed = try SQLPostgresConfiguration(url: configuration.url)
        } catch {
            throw StorageError(path: shown, reason: "not a PostgreSQL URL (postgres://user@host:5432/database)")
        }
        let core = parsed.coreConfiguration
        guard let host = core.host else { throw StorageError(path: shown, reason: "the URL names no host") }
        let mode = URLComponents(string: configuration.url)?.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS
        switch mode {
        case "disable": tls = .disable
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        default: tls = .prefer(.makeClientConfiguration())
        }
        var clientConfiguration = PostgresClient.Configuration(
            host: host, port: core.port ?? 5432, username: core.username, password: configuration.password ?? core.password,
            database: core.database, tls: tls)
        clientConfiguration.options.maximumConnections = max(1, configuration.poolSize)
        let store = PostgresStore(
            configuration: configuration, client: PostgresClient(configuration: clientConfiguration, backgroundLogger: logger), logger: logger)
        do {
            try await store.withDatabase { db in try await db.raw("SELECT 1").run() }
        } catch {
            throw StorageError.unavailable(path: shown, reason: "\(String(reflecting: error).prefix(300))")
        }
        try await Migrator(migrations: migrations).apply(to: store)
        return store
    }

    public func withDatabase<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        do {
            return try await client.withConnection { connection in try await body(connection.sql()) }
        } catch let error as PSQLError {
            throw describe(error)
        }
    }

    /// The server's message and SQLSTATE, never the query or its values (they may hold secrets).
    func describe(_ error: PSQLError) -> StorageError {
        let message = error.serverInfo?[.message] ?? "\(error.code)"
        let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
        return StorageError(path: Self.redacted(configuration.url), reason: "PostgreSQL: \(message)\(state)")
    }

    public func transaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        do {
            return try await writeTransaction(body)
        } catch let error as PSQLError {
            throw describe(error)
        }
    }

    private func writeTransaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await client.withConnection { connection in
            let db = connection.sql()
            return try await committing(db, begin: "BEGIN") {
                try await db.raw("SELECT pg_advisory_xact_lock(\(bind: Self.writerLock))").run()
                return try await body(db)
            }
        }
    }

    /// PostgreSQL's words for the shared schema: 64-bit integers everywhere (SQLite's INTEGER is 64-bit),
    /// identity columns, `BYTEA` for blobs, and `string_agg` for SQLite's `group_concat` (one data migration).
    public func translate(ddl: String) -> String {
        ddl.replacingOccurrences(of: "group_concat(", with: "string_agg(").replacingOccurrences(
            of: "INTEGER PRIMARY KEY AUTOINCREMENT", with: "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        )
        .replacingOccurrences(of: "INTEGER", with: "BIGINT").replacingOccurrences(of: " BLOB", with: " BYTEA")
        .replacingOccurrences(of: " REAL", with: " DOUBLE PRECISION")
    }

    /// Makes an empty database `name` through the server `adminURL` names (for tests and first set-up).
    public static func createDatabase(_ name: String, adminURL: String, logger: Logger = Logger(label: "mclouds.storage")) async throws {
        let admin = try await open(.init(url: adminURL, poolSize: 1), migrations: [], logger: logger)
        try await admin.withDatabase { db in try await db.raw("CREATE DATABASE \(ident: name)").run() }
    }

    /// The URL without its password, for messages.
    public static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "…"
        return components.string ?? "postgres://…"
    }
}
