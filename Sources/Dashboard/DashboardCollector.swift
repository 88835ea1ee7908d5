import AsyncHTTPClient
import CloudStack
import Core
import Federation
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization

/// Collects every region of the registry — concurrently, a bounded number at once, each within a
/// timeout — every `interval` (hourly by default) and on demand; stores each collection as snapshots and
/// keeps the federation summary. A region that fails keeps its last data, marked stale with its age.
public final class DashboardCollector: Service, Sendable {
    public struct Configuration: Sendable {
        public var interval: Duration = .seconds(3600)
        public var parallel: Int = 8
        public var regionTimeout: Duration = .seconds(120)
        /// How long snapshots and collection history are kept.
        public var retention: TimeInterval = 30 * 86_400
        /// Certificates expiring within this many days are a warning.
        public var certificateWarningDays: Int = 30
        public var tls = TLSInspector()
        /// A PEM bundle of CA certificates trusted, besides the system's, for the regions' APIs (a partner CA).
        public var caBundle: String?
        /// With leases, the periodic collection runs only in the instance that holds the `dashboard-collector`
        /// lease (several servers on one database collect once per period); the others read what it stored.
        public var leases: LeaseStore?
        /// This instance's name as a lease holder.
        public var instance = LeaseStore.processHolder

        public init() {}

        /// How long the lease lasts: one and a half periods plus the longest a collection may take, so the holder
        /// renews it every period (after collecting) and another instance takes over within that time when the
        /// holder dies.
        var leaseSeconds: TimeInterval { (leaseTime ?? interval * 1.5 + regionTimeout) / .seconds(1) }
        /// Overrides that lease time.
        public var leaseTime: Duration?

    }

    /// The lease the periodic collection runs under.
    public static let leaseName = "dashboard-collector"

    /// What one collection did.
    public struct Report: Sendable, Codable {
        public var started: String
        public var seconds: Double
        public var regions: Int
        public var failed: [String]
    }

    public let configuration: Configuration
    let registry: RegionRegistry
    public let store: SnapshotStore
    let metrics: DashboardMetrics?
    let logger: Logger
    /// One collection at a time; on-demand requests during one wait for it (or start the next).
    private let gate = CollectionGate()
    /// The stored latest state, read once per stored collection (pages and API calls read it).
    private let cached = Mutex<(revision: Int, states: [Int: (health: RegionHealth, snapshot: RegionSnapshot?, stale: Bool)]?)>((-1, nil))

    public init(
        registry: RegionRegistry, store: SnapshotStore, configuration: Configuration = Configuration(), metrics: DashboardMetrics? = nil,
        logger: Logger = Logger(label: "mclouds.dashboard")
    ) {
        self.registry = registry
        self.store = store
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var pause = configuration.interval
            do {
                if try await holdsLease() {
                    _ = try await collectNow()
                } else if let lease = try await configuration.leases?.current(Self.leaseName) {
                    // Another instance holds the lease: ask again when it would run out unless renewed (the holder
                    // renews it every period), so that a dead holder is taken over within one lease time.
                    let left = Duration.seconds(lease.expires - Date().timeIntervalSince1970) + .milliseconds(100)
                    pause = min(configuration.interval, max(.seconds(1), left))
                }
            } catch {
                logger.error("collection failed", metadata: ["error": "\(error)"])
            }
            do {
                let pause = pause
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            } catch {
                break
            }
        }
        // A graceful stop hands the lease on at once; a cancelled or killed instance's lease just expires.
        if !Task.isCancelled, let leases = configuration.leases { try? await leases.release(Self.leaseName, holder: configuration.instance) }
    }

    /// Whether this instance may run the periodic collection now (always, without leases).
    func holdsLease() async throws -> Bool {
        guard let leases = configuration.leases else { return true }
        let fence = try await leases.acquire(Self.leaseName, holder: configuration.instance, now: Date(), duration: configuration.leaseSeconds)
        if let fence { logger.debug("holding the collector lease", metadata: ["lease.fence": "\(fence)"]) }
        return fence != nil
    }

    /// Collects every region now (if a collection is running, waits for it and runs a fresh one). With leases,
    /// one collection runs at a time across every instance on the database: an instance that finds another one
    /// collecting waits for it and answers with that collection's report instead of collecting again.
    @discardableResult
    public func collectNow() async throws -> Report {
        try await gate.serialize { try await self.collectOnce() }
    }

    /// The lease held while a collection runs, periodic or on demand, on any instance.
    public static let runningLeaseName = "dashboard-collection"

    private func collectOnce() async throws -> Report {
        guard let leases = configuration.leases else { return try await collect() }
        let before = try await store.revision()
        // Renewed while the collection runs; short, so that a collection cut by a killed instance holds the next
        // one up for less than the collector lease does.
        let hold = max(2, min(30, configuration.leaseSeconds / 2))
        while true {
            if let report = try await leases.withLease(
                Self.runningLeaseName, holder: configuration.instance, duration: hold, wait: false,
                {
                    try await collect()
                })
            {
                return report
            }
            try await Task.sleep(for: .milliseconds(200))
            if let last = try await store.lastCollection(), last.id > before { return last.report }
        }
    }

    /// The number of the last collection stored by any instance: with the registry's regions, what a cache of
    /// anything drawn from the stored state is keyed by.
    public func revision() async throws -> Int {
        try await store.revision()
    }

    /// The federation summary from the stored state.
    public func summary(now: Date = Date()) async throws -> FederationSummary {
        let regions = try await registry.list()
        let latest = try await latestStates()
        let statuses = regions.map { region in
            let state = latest[region.id]
            return Self.status(region, health: state?.health, snapshot: state?.snapshot, stale: state?.stale ?? false, now: now)
        }
        return FederationSummary.aggregate(statuses, now: now)
    }

    /// A region's status with the age of its snapshot at `now`.
    static func status(_ region: FederationRegion, health: RegionHealth?, snapshot: RegionSnapshot?, stale: Bool, now: Date) -> RegionStatus {
        let age = snapshot.flatMap { Timestamps.date(from: $0.collected) }.map { Int(now.timeIntervalSince($0)) }
        return RegionStatus(
            id: region.id, name: region.name, endpoint: region.endpoint, health: health, snapshot: snapshot, stale: stale, ageSeconds: age)
    }

    private func latestStates() async throws -> [Int: (health: RegionHealth, snapshot: RegionSnapshot?, stale: Bool)] {
        // Keyed by the last stored collection, so that a collection by another instance is seen at once.
        let revision = try await store.revision()
        if let states = cached.withLock({ $0.revision == revision ? $0.states : nil }) { return states }
        let latest = try await store.latest()
        cached.withLock { $0 = (revision, latest) }
        return latest
    }

    private func collect() async throws -> Report {
        let started = Date()
        let clock = ContinuousClock.now
        let regions = try await registry.list()
        let keys = try await registry.allCredentials()
        let previous = try await latestStates()
        let results: [(regionID: Int, health: RegionHealth, snapshot: RegionSnapshot?)] = await concurrentMap(regions, limit: configuration.parallel)
        {
            region in
            let (apiKey, secret) = keys[region.id] ?? ("", "")
            let (id, health, snapshot) = await self.collect(
                region, apiKey: apiKey, secret: secret, lastSuccess: previous[region.id]?.snapshot?.collected)
            return (regionID: id, health: health, snapshot: snapshot)
        }
        let seconds = (ContinuousClock.now - clock) / .seconds(1)
        try await store.keepOnly(Set(regions.map(\.id)))
        // The summary as it will read after recording (failed regions keep their last snapshot); `results`
        // are in the order of `regions`.
        let statuses = zip(regions, results).map { region, result in
            Self.status(
                region, health: result.health, snapshot: result.snapshot ?? previous[region.id]?.snapshot, stale: result.snapshot == nil,
                now: started)
        }
        let summary = FederationSummary.aggregate(statuses, now: started)
        let failed = zip(regions, results).filter { $0.1.snapshot == nil }.map(\.0.name)
        try await store.record(
            started: started, seconds: seconds, results: results, failed: failed, summary: summary, retention: configuration.retention)
        metrics?.collection(seconds: seconds, failed: failed)
        logger.info(
            "collection done",
            metadata: [
                "regions": .stringConvertible(regions.count), "failed": "\(failed.joined(separator: ","))", "seconds": .stringConvertible(seconds),
            ])
        return Report(started: Timestamps.string(from: started), seconds: seconds, regions: regions.count, failed: failed)
    }

    /// One region: health (API latency, version, certificate) and a snapshot, within the region timeout.
    func collect(_ region: FederationRegion, apiKey: String, secret: String, lastSuccess: String?) async -> (Int, RegionHealth, RegionSnapshot?) {
        var regionLogger = logger
        regionLogger[metadataKey: "region"] = "\(region.name)"
        let logger = regionLogger
        var configuration = CloudStackClient.Configuration(endpoint: region.endpoint, apiKey: apiKey, secretKey: secret, region: region.name)
        configuration.requestTimeout = self.configuration.regionTimeout
        configuration.maxAttempts = 2
        let client = CloudStackClient(
            configuration: configuration,
            httpClient: (try? region.apiHTTPClient(caBundle: self.configuration.caBundle, logger: logger)) ?? HTTPClients.shared)
        let now = Date()
        var health = RegionHealth(
            reachable: false, latencyMilliseconds: nil, cloudStackVersion: nil, certificate: nil, level: .ok, problems: [],
            checked: Timestamps.string(from: now), lastSuccess: lastSuccess)
        let started = ContinuousClock.now
        var snapshot: RegionSnapshot?
        do {
            let (version, latency, read) = try await withTimeout(self.configuration.regionTimeout) {
                let t = ContinuousClock.now
                let capabilities = try await client.listCapabilities(logger: logger)
                let latency = (ContinuousClock.now - t) / .milliseconds(1)
                let snapshot = try await RegionReader(client: client).snapshot(regionID: region.id, regionName: region.name, now: now, logger: logger)
                return (capabilities.cloudstackversion, latency, snapshot)
            }
            health.reachable = true
            health.cloudStackVersion = version
            health.latencyMilliseconds = latency
            snapshot = read
            health.lastSuccess = health.checked
        } catch {
            health.level = .error
            health.problems.append("collection failed: \(error)")
            logger.warning("region not collected", metadata: ["error": "\(error)"])
        }
        if let url = URL(string: region.endpoint), url.scheme?.lowercased() == "https", let host = url.host {
            do {
                let certificate = try await self.configuration.tls.inspect(host: host, port: url.port ?? 443, now: now)
                health.certificate = certificate
                if certificate.daysLeft < 0 {
                    health.level = .error
                    health.problems.append("the certificate expired on \(certificate.notAfter)")
                } else if !certificate.trusted {
                    health.level = .error
                    health.problems.append("the certificate is not trusted: \(certificate.trustError ?? "")")
                } else if certificate.daysLeft < self.configuration.certificateWarningDays {
                    health.level = max(health.level, .warning)
                    health.problems.append("the certificate expires in \(certificate.daysLeft) days (\(certificate.notAfter))")
                }
            } catch {
                health.level = .error
                health.problems.append("no TLS connection: \(error)")
            }
        }
        metrics?.regionTiming(region.name, seconds: (ContinuousClock.now - started) / .seconds(1))
        return (region.id, health, snapshot)
    }
}

/// Runs `body`, throwing `DashboardError` when it takes longer than `limit`.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw DashboardError("no answer within \(limit)") }
        return value
    }
}

/// Lets one collection run at a time.
final class CollectionGate: Sendable {
    private let running = Mutex<Task<DashboardCollector.Report, any Error>?>(nil)

    func serialize(_ work: @escaping @Sendable () async throws -> DashboardCollector.Report) async throws -> DashboardCollector.Report {
        while true {
            let (task, mine): (Task<DashboardCollector.Report, any Error>, Bool) = running.withLock { current in
                if let current { return (current, false) }
                let task = Task { try await work() }
                current = task
                return (task, true)
            }
            if mine {
                defer { running.withLock { $0 = nil } }
                return try await task.value
            }
            _ = try? await task.value
        }
    }
}
