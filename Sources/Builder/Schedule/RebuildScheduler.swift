import Core
import Foundation
import Logging
import ServiceLifecycle
import Storage

/// Runs the registered recipes' scheduled rebuilds: every `interval` it looks for recipes that are due and
/// builds them — holding the scheduler's lease, so that with several servers on one database exactly one
/// instance builds each one (the others find the lease held and skip the round).
public struct RebuildScheduler: Service {
    public struct Configuration: Sendable {
        /// How often (clock seconds) due recipes are looked for. Default 60.
        public var interval: Double = 60
        /// The lease's length in seconds; renewed while a rebuild runs. Default 120.
        public var leaseSeconds: Double = 120
        public var instance: String = LeaseStore.processHolder

        public init() {}
    }

    /// The lease held while scheduled rebuilds run.
    public static let leaseName = "builder-schedule"

    let configuration: Configuration
    let store: BuildStore
    let leases: LeaseStore
    let clock: any WallClock
    let logger: Logger
    let build: @Sendable (Recipe, String) async -> BuildReport

    /// - Parameter build: builds a recipe in a region (the server composes the builder for the region).
    public init(
        configuration: Configuration = .init(), store: BuildStore, leases: LeaseStore, clock: any WallClock = SystemWallClock(), logger: Logger,
        build: @escaping @Sendable (Recipe, String) async -> BuildReport
    ) {
        self.configuration = configuration
        self.store = store
        self.leases = leases
        self.clock = clock
        self.logger = logger
        self.build = build
    }

    public func run() async throws {
        while !Task.isCancelled {
            do {
                try await runDue()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("scheduled rebuilds failed this round", metadata: ["error": "\(error)"])
            }
            do { try await clock.sleep(seconds: configuration.interval) } catch { return }
        }
    }

    /// Builds every recipe that is due now, under the lease (skipping the round when another instance holds it).
    /// - Returns: the reports of the builds it ran (`nil` when another instance holds the lease).
    @discardableResult
    public func runDue() async throws -> [BuildReport]? {
        try await leases.withLease(Self.leaseName, holder: configuration.instance, duration: configuration.leaseSeconds, wait: false) {
            var reports: [BuildReport] = []
            let now = clock.now()
            for registered in try await store.recipes() {
                guard let due = registered.nextDue, due <= now.timeIntervalSince1970, let schedule = registered.schedule else { continue }
                let next = schedule.next(after: now)
                try await store.scheduleNext(registered.name, at: next)
                let recipe: Recipe
                do {
                    recipe = try Recipe.parse(registered.text, file: registered.name)
                } catch {
                    logger.error(
                        "a registered recipe no longer parses; register it again", metadata: ["recipe": "\(registered.name)", "error": "\(error)"])
                    continue
                }
                if try await store.running(recipe: recipe.name) { continue }
                logger.info(
                    "scheduled rebuild",
                    metadata: ["recipe": "\(recipe.name)", "region.name": "\(registered.region)", "next": "\(Timestamps.string(from: next))"])
                reports.append(await build(recipe, registered.region))
            }
            return reports
        }
    }
}
