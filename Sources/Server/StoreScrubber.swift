import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import TemplateRepository

/// Reads and hashes every stored chunk on a schedule (``Repository/scrub(repair:mirrors:progress:)``), so that a
/// chunk the disk damaged is found before sites ask for it: logged with its digest and the versions it breaks,
/// and shown on `/metrics` (`mclouds_store_damaged_chunks`). It reports only; `mclouds template verify --repair`
/// repairs. The first scrub runs one interval after start (a large store takes a while to read).
public final class StoreScrubber<C: Clock>: Service, Sendable where C.Duration == Duration {
    public let repository: Repository
    public let interval: Duration
    let clock: C
    let logger: Logger
    private let last = Mutex<(report: ScrubReport, finished: Date)?>(nil)
    private let damagedGauge: Gauge?
    private let finishedGauge: Gauge?

    /// - Parameter metrics: where the gauges go (`/metrics`); `nil` for none.
    public init(repository: Repository, interval: Duration, clock: C, metrics: PrometheusCollectorRegistry? = nil, logger: Logger) {
        self.repository = repository
        self.interval = interval
        self.clock = clock
        self.logger = logger
        damagedGauge = metrics?.makeGauge(
            descriptor: .init(
                metricName: "mclouds_store_damaged_chunks", unitName: "",
                helpText: "Stored chunks that did not hash to their digest at the last scrub (repair: mclouds template verify --repair)."))
        finishedGauge = metrics?.makeGauge(
            descriptor: .init(
                metricName: "mclouds_store_last_scrub_timestamp_seconds", unitName: "", helpText: "When the last scrub of the chunk store ended."))
    }

    /// The last scrub's report and when it ended.
    public var lastScrub: (report: ScrubReport, finished: Date)? { last.withLock { $0 } }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await self.clock.sleep(for: self.interval) }
            } catch {
                return
            }
            await scrubOnce()
        }
    }

    /// One scrub now (errors are logged: the next interval tries again).
    public func scrubOnce() async {
        do {
            guard let report = try await repository.scrubUnlessRunningElsewhere() else {
                logger.info("another server is scrubbing the shared chunk store; skipped until the next interval")
                return
            }
            let finished = Date()
            last.withLock { $0 = (report, finished) }
            damagedGauge?.set(Double(report.damaged.count))
            finishedGauge?.set(finished.timeIntervalSince1970)
            if report.damaged.isEmpty {
                logger.info("chunk store scrubbed: every chunk intact", metadata: ["chunks": .stringConvertible(report.checked)])
            } else {
                logger.error(
                    "chunk store scrubbed: damaged chunks found; run mclouds template verify --repair",
                    metadata: [
                        "chunks": .stringConvertible(report.checked), "damaged": .stringConvertible(report.damaged.count),
                        "chunk.digest": "\(report.damaged[0])", "versions": "\(report.affectedVersions.joined(separator: ","))",
                    ])
            }
        } catch {
            logger.error("chunk store scrub failed", metadata: ["error": "\(error)"])
        }
    }
}
