import Foundation
import Logging
import NIOSSL
import PostgresKit
import SQLKit
import Synchronization

/// A PostgreSQL database, for several servers sharing one catalog. Connections come from a pool
/// (``Configuration/poolSize``); a lost connection is replaced by the pool, and what certainly did not run on
/// it (a read, or a write whose connection was found dead before it began) runs again on a new one; a
/// transaction rolled back for a serialization failure or deadlock is retried too. Write transactions take a transaction-scoped advisory lock first, so they are serialised across
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

    private init(configuration: Configuration, client: PostgresClient, logger: Logger, running: Task<Void, Never>) {
        self.configuration = configuration
        self.client = client
        self.logger = logger
        self.running = running
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
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: driverLogger(logger))
        let store = PostgresStore(configuration: configuration, client: client, logger: logger, running: Task { await client.run() })
        // Let the pool's run() begin before the first lease (one asked earlier waits for it, and PostgresNIO warns).
        for _ in 0..<3 { await Task.yield() }
        do {
            try await store.withDatabase { db in try await db.raw("SELECT 1").run() }
        } catch {
            throw StorageError.unavailable(path: shown, reason: "\(String(reflecting: error).prefix(300))")
        }
        try await Migrator(migrations: migrations).apply(to: store)
        return store
    }

    public func withDatabase<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        var attempt = 1
        while true {
            do {
                return try await client.withConnection { connection in try await body(connection.sql()) }
            } catch let error as PSQLError {
                // A read is safe to run again: on a connection that died (the server restarted, an administrator ended
                // it), the pool opens a new one.
                guard attempt < Self.attempts, Self.isLostConnection(error) else { throw describe(error) }
                logger.warning("database connection lost; reading again on a new one", metadata: ["error": "\(describe(error))"])
                attempt += 1
            }
        }
    }

    /// How often a statement is tried when its connection was lost or its transaction lost a serialization race.
    static let attempts = 3

    /// Whether the connection failed under the statement (rather than the statement failing).
    static func isLostConnection(_ error: PSQLError) -> Bool {
        if [.serverClosedConnection, .connectionError, .uncleanShutdown].contains(error.code) { return true }
        return error.serverInfo?[.sqlState].map(isLostConnectionState) ?? false
    }

    /// SQLSTATE classes that mean the connection is gone: connection exception (08), operator intervention (57P).
    public static func isLostConnectionState(_ state: String) -> Bool { state.hasPrefix("08") || state.hasPrefix("57P") }

    /// SQLSTATEs of a transaction rolled back for a race: serialization failure, deadlock.
    public static let retryableStates: Set<String> = ["40001", "40P01"]

    /// Whether PostgreSQL rolled the transaction back for a race another transaction won (serialization failure,
    /// deadlock): running it again is what the server asks for.
    static func isRetryableRace(_ error: PSQLError) -> Bool {
        retryableStates.contains(error.serverInfo?[.sqlState] ?? "")
    }

    /// The server's message and SQLSTATE, never the query or its values (they may hold secrets).
    func describe(_ error: PSQLError) -> StorageError {
        let message = error.serverInfo?[.message] ?? "\(error.code)"
        let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
        return StorageError(path: Self.redacted(configuration.url), reason: "PostgreSQL: \(message)\(state)")
    }

    public func transaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        var attempt = 1
        while true {
            let started = StartedFlag()
            do {
                return try await writeTransaction(body, started: started)
            } catch let error as PSQLError {
                // Run again what certainly did not happen: a transaction the server rolled back for a race, or one whose
                // connection was found dead before its body began. A connection lost after that may have committed.
                let again = Self.isRetryableRace(error) || (Self.isLostConnection(error) && !started.value.load(ordering: .acquiring))
                guard attempt < Self.attempts, again else { throw describe(error) }
                logger.warning("database transaction retried", metadata: ["error": "\(describe(error))", "attempt": "\(attempt + 1)"])
                attempt += 1
                try await Task.sleep(for: .milliseconds(10 * attempt))
            }
        }
    }

    private func writeTransaction<R: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> R, started: StartedFlag) async throws -> R {
        try await client.withConnection { connection in
            let db = connection.sql()
            return try await committing(db, begin: "BEGIN") {
                try await db.raw("SELECT pg_advisory_xact_lock(\(bind: Self.writerLock))").run()
                started.value.store(true, ordering: .releasing)
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

    /// Makes a new, empty database named `prefix` + a random suffix on the server `adminURL` names, and returns
    /// its URL (the admin URL with the new database's name as its path).
    public static func createUniqueDatabase(prefix: String, adminURL: String, logger: Logger = Logger(label: "mclouds.storage")) async throws
        -> String
    {
        guard var components = URLComponents(string: adminURL) else {
            throw StorageError(path: redacted(adminURL), reason: "not a PostgreSQL URL (postgres://user@host:5432/database)")
        }
        let name = prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await createDatabase(name, adminURL: adminURL, logger: logger)
        components.path = "/" + name
        return components.string!
    }

    /// The URL without its password, for messages.
    public static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "…"
        return components.string ?? "postgres://…"
    }
}

/// Set once a write transaction's body has begun (what decides whether it may be run again).
final class StartedFlag: Sendable {
    let value = Atomic(false)
}
