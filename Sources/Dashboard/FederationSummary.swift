import Core
import Foundation

/// The whole federation at a glance: totals over every region's latest data (a stale region's last
/// figures count, flagged — never as zero), and each region's status.
public struct FederationSummary: Codable, Sendable, Hashable {
    public var generated: String
    public var regions: [RegionStatus]
    public var totals: [String: CapacityFigure]
    public var hosts: Int
    public var hostsUp: Int
    public var virtualMachines: Int
    public var runningVirtualMachines: Int
    /// Regions whose figures are not from the last collection.
    public var staleRegions: [String]
    /// Regions never collected (nothing to count).
    public var missingRegions: [String]

    public func total(_ resource: Resource) -> CapacityFigure { totals[resource.rawValue] ?? CapacityFigure() }

    /// Sums the regions' latest snapshots (pure).
    public static func aggregate(_ regions: [RegionStatus], now: Date) -> FederationSummary {
        var totals: [String: CapacityFigure] = [:]
        var summary = FederationSummary(
            generated: Timestamps.string(from: now), regions: regions, totals: [:], hosts: 0, hostsUp: 0, virtualMachines: 0,
            runningVirtualMachines: 0, staleRegions: [], missingRegions: [])
        for region in regions {
            guard let snapshot = region.snapshot else {
                summary.missingRegions.append(region.name)
                continue
            }
            if region.stale { summary.staleRegions.append(region.name) }
            for (key, figure) in snapshot.capacity { totals[key, default: CapacityFigure()] = totals[key, default: CapacityFigure()] + figure }
            summary.hosts += snapshot.hosts.total
            summary.hostsUp += snapshot.hosts.up
            summary.virtualMachines += snapshot.virtualMachines.total
            summary.runningVirtualMachines += snapshot.virtualMachines.running
        }
        summary.totals = totals
        return summary
    }
}
