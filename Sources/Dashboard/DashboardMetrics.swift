import CoreMetrics
import Foundation
import Metrics

/// The dashboard's figures as swift-metrics gauges, counters and timers (a Prometheus factory turns them
/// into `/metrics`): per-region capacity, health, certificate days left and data age; the collector's
/// timings and errors.
public struct DashboardMetrics: Sendable {
    let factory: any MetricsFactory

    public init(factory: any MetricsFactory) { self.factory = factory }

    func record(_ summary: FederationSummary, now: Date) {
        for region in summary.regions {
            let name = region.name
            if let snapshot = region.snapshot {
                for (key, figure) in snapshot.capacity {
                    gauge("mclouds_region_capacity_used", ["region": name, "resource": key]).record(Double(figure.used))
                    gauge("mclouds_region_capacity_total", ["region": name, "resource": key]).record(Double(figure.total))
                }
                gauge("mclouds_region_virtual_machines", ["region": name, "state": "running"]).record(Double(snapshot.virtualMachines.running))
                gauge("mclouds_region_virtual_machines", ["region": name, "state": "all"]).record(Double(snapshot.virtualMachines.total))
                gauge("mclouds_region_hosts", ["region": name, "state": "up"]).record(Double(snapshot.hosts.up))
                gauge("mclouds_region_hosts", ["region": name, "state": "all"]).record(Double(snapshot.hosts.total))
                if let age = region.ageSeconds { gauge("mclouds_region_data_age_seconds", ["region": name]).record(Double(age)) }
            }
            gauge("mclouds_region_stale", ["region": name]).record(region.stale ? 1 : 0)
            if let health = region.health {
                gauge("mclouds_region_up", ["region": name]).record(health.reachable ? 1 : 0)
                gauge("mclouds_region_health", ["region": name]).record(health.level == .ok ? 0 : health.level == .warning ? 1 : 2)
                if let latency = health.latencyMilliseconds { gauge("mclouds_region_api_latency_seconds", ["region": name]).record(latency / 1000) }
                if let certificate = health.certificate {
                    gauge("mclouds_region_certificate_days_left", ["region": name]).record(Double(certificate.daysLeft))
                }
            }
        }
        for resource in Resource.allCases {
            let figure = summary.total(resource)
            gauge("mclouds_federation_capacity_used", ["resource": resource.rawValue]).record(Double(figure.used))
            gauge("mclouds_federation_capacity_total", ["resource": resource.rawValue]).record(Double(figure.total))
        }
    }

    func collection(seconds: Double, failed: [String]) {
        Timer(label: "mclouds_collection_duration_seconds", dimensions: [], factory: factory).recordSeconds(seconds)
        Counter(label: "mclouds_collections_total", dimensions: [], factory: factory).increment()
        for region in failed { Counter(label: "mclouds_collection_errors_total", dimensions: [("region", region)], factory: factory).increment() }
    }

    func regionTiming(_ region: String, seconds: Double) {
        gauge("mclouds_region_collect_seconds", ["region": region]).record(seconds)
    }

    private func gauge(_ label: String, _ dimensions: [String: String]) -> Gauge {
        Gauge(label: label, dimensions: dimensions.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, factory: factory)
    }
}
