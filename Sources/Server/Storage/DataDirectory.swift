import Core
import Dashboard
import Federation
import Foundation
import Logging
import Prometheus
import TemplateRepository

/// The layout of an mClouds data directory: `catalog.sqlite`, `chunks/`, `keys/publisher.ed25519`.
public struct DataDirectory: Sendable {
    public let url: URL

    public init(_ path: String) { url = URL(fileURLWithPath: path, isDirectory: true) }

    /// The catalog database file.
    public var databasePath: String { url.appendingPathComponent("catalog.sqlite").path }

    /// The publisher key file.
    public var keyPath: String { KeyFile.defaultPath(dataDirectory: url) }

    /// Opens the template repository kept here, with the given key or the directory's own (created on
    /// first use; `onNewKey` is told so its public key can be shown).
    public func openRepository(
        keyPath explicitKey: String? = nil, catalogValidity: TimeInterval = 48 * 3600, parameters: ChunkingParameters = .standard,
        logger: Logger = Logger(label: "mclouds.repository"), onNewKey: (PublisherKey) -> Void = { _ in }
    ) async throws -> Repository {
        let key: PublisherKey
        if let explicitKey {
            key = try KeyFile.load(path: explicitKey)
        } else {
            let (loaded, created) = try KeyFile.loadOrCreate(path: keyPath)
            if created { onNewKey(loaded) }
            key = loaded
        }
        let database = try await SQLiteStore.open(path: databasePath, migrations: [], logger: logger)
        return try await Repository.open(
            dataDirectory: url, database: database, key: key, catalogValidity: catalogValidity, parameters: parameters, logger: logger)
    }

    /// The key that seals the registry's secrets (`keys/secrets.aes256`, made on first use).
    public var secretsKeyPath: String { url.appendingPathComponent("keys/secrets.aes256").path }

    /// Opens the federation's region registry kept here.
    public func openRegistry(logger: Logger = Logger(label: "mclouds.federation")) async throws -> RegionRegistry {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let database = try await SQLiteStore.open(path: databasePath, migrations: [], logger: logger)
        return try await RegionRegistry.open(database: database, secrets: try SecretBox.open(keyFile: secretsKeyPath))
    }

    /// The registry, the dashboard's snapshot store and collector, and the Prometheus registry its gauges
    /// live in — what `mclouds server` and the demo serve.
    public func openFederation(
        collector configuration: DashboardCollector.Configuration = .init(), logger: Logger = Logger(label: "mclouds.dashboard")
    ) async throws -> FederationServices {
        let registry = try await openRegistry(logger: logger)
        let database = try await SQLiteStore.open(path: databasePath, migrations: [], logger: logger)
        let store = try await SnapshotStore.open(database: database)
        let metrics = PrometheusCollectorRegistry()
        let collector = DashboardCollector(
            registry: registry, store: store, configuration: configuration,
            metrics: DashboardMetrics(factory: PrometheusMetricsFactory(registry: metrics)), logger: logger)
        return FederationServices(registry: registry, collector: collector, metrics: metrics)
    }
}
