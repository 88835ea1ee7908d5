import Builder
import CloudStack
import Core
import Federation
import Foundation
import Logging
import ServiceLifecycle
import Storage
import TemplateRepository

/// Runs template builds on this server: those asked for through the API (each in a task of its own, for as
/// long as the server runs) and, through ``RebuildScheduler``, the registered recipes' scheduled rebuilds.
/// A build deploys in the region it names, using the registry's credentials, and publishes to this server's
/// repository. On shutdown running builds are cancelled, and each still removes what it made.
public final class BuildRunner: Service, Sendable {
    public struct Configuration: Sendable {
        /// How often the builds look at their VM while it provisions (clock seconds). Default 5.
        public var pollSeconds: Double = 5
        /// How long a guest has to power off after reporting before it is stopped. Default 120.
        public var powerOffGraceSeconds: Double = 120

        public init() {}
    }

    public let store: BuildStore
    public let leases: LeaseStore
    let registry: RegionRegistry
    let repository: Repository
    let workDirectory: URL
    let callbackURL: @Sendable () -> String
    let clock: any WallClock
    let configuration: Configuration
    let logger: Logger
    private let queue: AsyncStream<(Recipe, String, BuildReport)>.Continuation
    private let stream: AsyncStream<(Recipe, String, BuildReport)>

    /// - Parameter callbackURL: the server's URL as builder VMs reach it (asked when a build starts).
    public init(
        store: BuildStore, leases: LeaseStore, registry: RegionRegistry, repository: Repository, workDirectory: URL,
        callbackURL: @escaping @Sendable () -> String, clock: any WallClock = SystemWallClock(), configuration: Configuration = .init(),
        logger: Logger
    ) {
        self.store = store
        self.leases = leases
        self.registry = registry
        self.repository = repository
        self.workDirectory = workDirectory
        self.callbackURL = callbackURL
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
        (stream, queue) = AsyncStream.makeStream()
    }

    /// Checks the request and records the build as running; it starts at once in the background.
    /// - Throws: ``BuilderError`` `conflict` when the recipe is being built, or a federation error for an unknown region.
    public func submit(_ recipe: Recipe, region: String, requestedBy: String) async throws -> BuildReport {
        let entry = try await registry.region(region)
        if try await store.running(recipe: recipe.name) {
            throw BuilderError.conflict("\(recipe.name) is being built now: follow that build, or try again when it ends.")
        }
        var report = BuildReport(
            id: TemplateBuilder.newID(), recipe: recipe, region: entry.name, requestedBy: requestedBy, started: Timestamps.string(from: clock.now()))
        report.step = .resolve
        try await store.start(report, now: clock.now())
        queue.yield((recipe, entry.name, report))
        return report
    }

    /// Builds `recipe` in `region` now and returns when it is done (the scheduler's way).
    public func build(_ recipe: Recipe, region: String, requestedBy: String, id: String = TemplateBuilder.newID()) async -> BuildReport {
        do {
            let builder = try await builder(region: region)
            return await builder.build(recipe, id: id, requestedBy: requestedBy)
        } catch {
            var report = BuildReport(id: id, recipe: recipe, region: region, requestedBy: requestedBy, started: Timestamps.string(from: clock.now()))
            report.state = .failed
            report.failedStep = .resolve
            report.error = "region \(region) cannot be used: \(error)"
            report.finished = report.started
            try? await store.start(report, now: clock.now())
            try? await store.save(report)
            return report
        }
    }

    /// The builder for a region of the registry.
    func builder(region: String) async throws -> TemplateBuilder {
        let entry = try await registry.region(region)
        let keys = try await registry.credentials(entry.id)
        let client = CloudStackClient(
            configuration: .init(endpoint: entry.endpoint, apiKey: keys.apiKey, secretKey: keys.secretKey, region: entry.name),
            httpClient: try entry.apiHTTPClient(logger: logger))
        var builderConfiguration = TemplateBuilder.Configuration(callbackBaseURL: callbackURL(), workDirectory: workDirectory)
        builderConfiguration.pollSeconds = configuration.pollSeconds
        builderConfiguration.powerOffGraceSeconds = configuration.powerOffGraceSeconds
        return TemplateBuilder(
            configuration: builderConfiguration, client: client, region: entry.name, publisher: repository, store: store, clock: clock, logger: logger
        )
    }

    /// The scheduler of the registered recipes' rebuilds, building through this runner.
    public func scheduler(configuration: RebuildScheduler.Configuration = .init()) -> RebuildScheduler {
        RebuildScheduler(configuration: configuration, store: store, leases: leases, clock: clock, logger: logger) { recipe, region in
            await self.build(recipe, region: region, requestedBy: "schedule")
        }
    }

    public func run() async throws {
        // Builds older than any build may run (24 h at most) were left by a server that stopped: failed, not "running" for ever.
        let abandoned = try await store.failAbandoned(olderThan: clock.now().addingTimeInterval(-26 * 3600), now: clock.now())
        if abandoned > 0 { logger.warning("builds interrupted by an earlier stop marked as failed", metadata: ["count": "\(abandoned)"]) }
        await withDiscardingTaskGroup { group in
            for await (recipe, region, report) in stream.cancelOnGracefulShutdown() {
                group.addTask {
                    _ = await self.build(recipe, region: region, requestedBy: report.requestedBy, id: report.id)
                }
            }
            group.cancelAll()
        }
    }
}
