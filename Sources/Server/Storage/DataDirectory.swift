import Access
import Builder
import Classroom
import Core
import Dashboard
import Federation
import Foundation
import Logging
import Prometheus
import Storage
import TemplateRepository

/// The layout of an mClouds data directory: `catalog.sqlite`, `chunks/`, `keys/publisher.ed25519` — or, with a
/// PostgreSQL `database`, the catalog, registry and dashboard there and the chunks and keys here.
public struct DataDirectory: Sendable {
    public let url: URL
    /// The PostgreSQL database holding the catalog; `nil` for the SQLite file in the directory.
    public let database: PostgresStore.Configuration?
    /// Where the key that seals the registry's secrets lives, when not in the directory (`keys/secrets.aes256`):
    /// outside it, a copy of the data directory (or of the database) decrypts nothing.
    public let secretsKey: String?

    /// A data directory holding its SQLite catalog.
    public init(_ path: String) { self.init(path, database: nil) }

    /// A data directory whose catalog is in `database` (PostgreSQL), or in its SQLite file when `nil`, with the
    /// secrets key at `secretsKey` (default: inside the directory).
    public init(_ path: String, database: PostgresStore.Configuration?, secretsKey: String? = nil) {
        url = URL(fileURLWithPath: path, isDirectory: true)
        self.database = database
        self.secretsKey = secretsKey
    }

    /// What is wrong with where the secrets key is kept, in words an operator acts on (nil: nothing). Checked at
    /// start-up: a key beside the data it seals, or readable by others than its owner.
    public func secretsKeyProblems() -> [String] {
        var problems: [String] = []
        let path = secretsKeyPath
        if secretsKey == nil || path.hasPrefix(url.path + "/") {
            problems.append(
                "the secrets key \(path) lies in the data directory, so a copy of the directory decrypts every region's secret key: "
                    + "move it out (e.g. /etc/mclouds/master.key, mode 0600) and start with --secrets-key")
        }
        if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            problems.append("the secrets key \(path) is readable by others (mode \(String(mode, radix: 8))): chmod 600 \(path)")
        }
        return problems
    }

    /// The catalog database: PostgreSQL when configured, else the directory's SQLite file.
    func openStore(migrations: [Migration], logger: Logger) async throws -> any SQLStore {
        if let database { return try await PostgresStore.open(database, migrations: migrations, logger: logger) }
        return try await SQLiteStore.open(path: databasePath, migrations: migrations, logger: logger)
    }

    /// The catalog database file.
    public var databasePath: String { url.appendingPathComponent("catalog.sqlite").path }

    /// The publisher key file.
    public var keyPath: String { KeyFile.defaultPath(dataDirectory: url) }

    /// Whether opening may create what is missing. Reads never do: a typo in `--data` must not make a new
    /// directory, database or key (a new publisher key is a new identity).
    public enum Opening: Sendable {
        /// The data directory must hold a catalog already; nothing is created.
        case existing
        /// The directory, database and keys are created when missing (a publish, the server, the demo).
        case creating
    }

    /// Refuses a directory without a catalog database when nothing may be created.
    /// - Throws: ``StorageError`` `noDataDirectory`.
    func requireExisting(_ opening: Opening) throws {
        guard opening == .existing, database == nil else { return }
        guard FileManager.default.fileExists(atPath: databasePath) else { throw StorageError.noDataDirectory(path: url.path) }
    }

    /// Opens the template repository kept here, with the given key or the directory's own (created on
    /// first use when `opening` is `.creating`; `onNewKey` is told so its public key can be shown).
    /// - Throws: ``StorageError`` `noDataDirectory` for `.existing` on a directory without a catalog.
    public func openRepository(
        _ opening: Opening = .creating, keyPath explicitKey: String? = nil, catalogValidity: TimeInterval = 48 * 3600,
        parameters: ChunkingParameters = .standard, logger: Logger = Logger(label: "mclouds.repository"),
        onNewKey: (PublisherKey) -> Void = { _ in }
    ) async throws -> Repository {
        try requireExisting(opening)
        let key: PublisherKey
        if let explicitKey {
            key = try KeyFile.load(path: explicitKey)
        } else if opening == .existing {
            key = try KeyFile.load(path: keyPath)
        } else {
            let (loaded, created) = try KeyFile.loadOrCreate(path: keyPath)
            if created { onNewKey(loaded) }
            key = loaded
        }
        let database = try await openStore(migrations: [], logger: logger)
        return try await Repository.open(
            dataDirectory: url, database: database, key: key, catalogValidity: catalogValidity, parameters: parameters, logger: logger)
    }

    /// The key that seals the registry's secrets (`keys/secrets.aes256`, made on first use).
    public var secretsKeyPath: String { secretsKey ?? url.appendingPathComponent("keys/secrets.aes256").path }

    /// Opens the federation's region registry kept here. With `.existing` nothing is created (a registry
    /// without a secrets key lists its regions but cannot use their secrets); with `.creating` the directory,
    /// database and secrets key are made when missing, and `onNewKey` is told the key's path.
    /// - Throws: ``StorageError`` `noDataDirectory` for `.existing` on a directory without a catalog.
    public func openRegistry(
        _ opening: Opening = .creating, logger: Logger = Logger(label: "mclouds.federation"), onNewKey: (String) -> Void = { _ in }
    ) async throws -> RegionRegistry {
        try requireExisting(opening)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let database = try await openStore(migrations: [], logger: logger)
        let secrets = try SecretBox.open(keyFile: secretsKeyPath, create: opening == .creating, onCreate: onNewKey)
        return try await RegionRegistry.open(database: database, secrets: secrets)
    }

    /// The tokens issued and the audit log, in the catalog database.
    public func openAccess(users settings: UserStore.Settings = .init(), logger: Logger = Logger(label: "mclouds.access")) async throws
        -> AccessServices
    {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let database = try await openStore(migrations: [], logger: logger)
        return AccessServices(
            tokens: try await TokenStore.open(database: database), users: try await UserStore.open(database: database, settings: settings),
            audit: try await AuditLog.open(database: database))
    }

    /// The classroom scheduler's store (courses, bookings, sessions, seats) and the leases its engine runs under.
    public func openClassroom(logger: Logger = Logger(label: "mclouds.classroom")) async throws -> (store: ClassroomStore, leases: LeaseStore) {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let database = try await openStore(migrations: [LeaseStore.migration], logger: logger)
        return (try await ClassroomStore.open(database: database), LeaseStore(store: database))
    }

    /// The template builder's store (builds, their logs and callbacks, registered recipes), the leases its
    /// scheduler runs under, and the directory images are downloaded to before publishing.
    public func openBuilds(logger: Logger = Logger(label: "mclouds.builder")) async throws -> (store: BuildStore, leases: LeaseStore, work: URL) {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let database = try await openStore(migrations: [LeaseStore.migration], logger: logger)
        let work = url.appendingPathComponent("builds")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        return (try await BuildStore.open(database: database), LeaseStore(store: database), work)
    }

    /// The registry, the dashboard's snapshot store and collector, and the Prometheus registry its gauges
    /// live in — what `mclouds server` and the demo serve.
    public func openFederation(
        collector configuration: DashboardCollector.Configuration = .init(), logger: Logger = Logger(label: "mclouds.dashboard"),
        onNewKey: (String) -> Void = { _ in }
    ) async throws -> FederationServices {
        let registry = try await openRegistry(.creating, logger: logger, onNewKey: onNewKey)
        let database = try await openStore(migrations: [LeaseStore.migration], logger: logger)
        let store = try await SnapshotStore.open(database: database)
        let metrics = PrometheusCollectorRegistry()
        // Periodic collections under a lease: several servers on one database collect once per period.
        var configuration = configuration
        if configuration.leases == nil { configuration.leases = LeaseStore(store: database) }
        let collector = DashboardCollector(
            registry: registry, store: store, configuration: configuration,
            metrics: DashboardMetrics(factory: DescribedMetricsFactory(registry: metrics, help: DashboardMetrics.help)), logger: logger)
        return FederationServices(registry: registry, collector: collector, metrics: metrics)
    }
}
