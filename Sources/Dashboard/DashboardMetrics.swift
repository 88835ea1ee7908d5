import Core
import CoreMetrics
import Foundation
import Metrics

/// The collector's own timings and errors as swift-metrics (a Prometheus factory turns them into `/metrics`),
/// and the federation's figures as Prometheus families: ``exposition(_:into:)`` once per state, and
/// ``ageExposition(_:now:into:)`` at each scrape, so that ages are the ages at the moment of the scrape.
public struct DashboardMetrics: Sendable {
    let factory: any MetricsFactory

    public init(factory: any MetricsFactory) { self.factory = factory }

    /// Help texts of the collector's swift-metrics, for a factory that writes `# HELP` lines.
    public static let help: [String: String] = [
        "mclouds_collection_duration_seconds": "Time one collection of every region took.",
        "mclouds_collections_total": "Collections run since the server started.",
        "mclouds_collection_errors_total": "Collections in which the region could not be read.",
        "mclouds_region_collect_seconds": "Time the last collection of the region took.",
    ]

    func collection(seconds: Double, failed: [String]) {
        Timer(label: "mclouds_collection_duration_seconds", dimensions: [], factory: factory).recordSeconds(seconds)
        Counter(label: "mclouds_collections_total", dimensions: [], factory: factory).increment()
        for region in failed { Counter(label: "mclouds_collection_errors_total", dimensions: [("region", region)], factory: factory).increment() }
    }

    func regionTiming(_ region: String, seconds: Double) {
        Gauge(label: "mclouds_region_collect_seconds", dimensions: [("region", region)], factory: factory).record(seconds)
    }

    /// A capacity resource as metric names: one unit per name, in base units (MHz become hertz).
    static func names(_ key: String) -> (stem: String, unit: String, scale: Double, what: String) {
        switch Resource(rawValue: key) {
        case .cpu: ("cpu", "_hertz", 1_000_000, "CPU clock capacity in hertz")
        case .cpuCores: ("cpu_cores", "", 1, "CPU cores")
        case .memory: ("memory", "_bytes", 1, "memory in bytes")
        case .primaryStorage: ("primary_storage", "_bytes", 1, "primary storage in bytes")
        case .primaryStorageAllocated: ("primary_storage_allocated", "_bytes", 1, "primary storage allocated to volumes, in bytes")
        case .secondaryStorage: ("secondary_storage", "_bytes", 1, "secondary storage in bytes")
        case .publicIPs: ("public_ips", "", 1, "public IP addresses")
        case nil: (key.lowercased().filter { $0.isLetter || $0.isNumber || $0 == "_" }, "", 1, "capacity figure \(key)")
        }
    }

    /// When each region's figures were collected: what ``ageExposition(_:now:into:)`` needs at scrape time.
    public static func collectedTimes(_ summary: FederationSummary) -> [(region: String, collected: Date)] {
        summary.regions.compactMap { region in
            region.snapshot.flatMap { Timestamps.date(from: $0.collected) }.map { (region.name, $0) }
        }
    }

    /// The age of each region's figures at `now` (the time of the scrape).
    public static func ageExposition(_ times: [(region: String, collected: Date)], now: Date, into text: inout PrometheusText) {
        text.gauge(
            "mclouds_region_data_age_seconds", help: "Age of the region's figures at the time of this scrape.",
            times.map { ([("region", $0.region)], max(0, now.timeIntervalSince($0.collected))) })
    }

    /// The federation's figures (they change only with a collection or the registry): per region capacity (used and
    /// total per resource), VMs, hosts, health, latency, certificate days left, whether stale, when collected; totals.
    public static func exposition(_ summary: FederationSummary, into text: inout PrometheusText) {
        for region in summary.regions {
            let label = [("region", region.name)]
            if let snapshot = region.snapshot {
                for (key, figure) in snapshot.capacity.sorted(by: { $0.key < $1.key }) {
                    let n = names(key)
                    text.gauge(
                        "mclouds_region_\(n.stem)_used\(n.unit)", help: "Used \(n.what), per region.", labels: label, Double(figure.used) * n.scale)
                    text.gauge(
                        "mclouds_region_\(n.stem)_capacity\(n.unit)", help: "Total \(n.what), per region.", labels: label,
                        Double(figure.total) * n.scale)
                }
                let vms = "Virtual machines of the region by state (all: every state)."
                text.gauge(
                    "mclouds_region_virtual_machines", help: vms, labels: label + [("state", "running")], Double(snapshot.virtualMachines.running))
                text.gauge("mclouds_region_virtual_machines", help: vms, labels: label + [("state", "all")], Double(snapshot.virtualMachines.total))
                let hosts = "Hosts of the region by state (all: every state)."
                text.gauge("mclouds_region_hosts", help: hosts, labels: label + [("state", "up")], Double(snapshot.hosts.up))
                text.gauge("mclouds_region_hosts", help: hosts, labels: label + [("state", "all")], Double(snapshot.hosts.total))
                if let collected = Timestamps.date(from: snapshot.collected) {
                    text.gauge(
                        "mclouds_region_last_collected_timestamp_seconds", help: "When the region's figures were collected (unix time).",
                        labels: label,
                        collected.timeIntervalSince1970)
                }
            }
            text.gauge(
                "mclouds_region_stale", help: "1 when the region's figures are older than the last collection.", labels: label, region.stale ? 1 : 0)
            if let health = region.health {
                text.gauge("mclouds_region_up", help: "1 when the region answered the last collection.", labels: label, health.reachable ? 1 : 0)
                text.gauge(
                    "mclouds_region_health", help: "The region's health: 0 ok, 1 warning, 2 error.", labels: label,
                    health.level == .ok ? 0 : health.level == .warning ? 1 : 2)
                if let latency = health.latencyMilliseconds {
                    text.gauge(
                        "mclouds_region_api_latency_seconds", help: "CloudStack API latency at the last collection.", labels: label, latency / 1000)
                }
                if let certificate = health.certificate {
                    text.gauge(
                        "mclouds_region_certificate_days_left", help: "Days until the region's TLS certificate expires.", labels: label,
                        Double(certificate.daysLeft))
                }
            }
        }
        for resource in Resource.allCases {
            let figure = summary.total(resource)
            let n = names(resource.rawValue)
            text.gauge("mclouds_federation_\(n.stem)_used\(n.unit)", help: "Used \(n.what), whole federation.", Double(figure.used) * n.scale)
            text.gauge("mclouds_federation_\(n.stem)_capacity\(n.unit)", help: "Total \(n.what), whole federation.", Double(figure.total) * n.scale)
        }
    }
}
