import CloudStack
import Core
import Foundation
import Logging

/// Reads one region's state through its API: zones, hosts, `listCapacity` (raw numbers, not the
/// pre-formatted metrics API), virtual machines and the templates carrying mClouds tags.
public struct RegionReader: Sendable {
    public let client: CloudStackClient

    public init(client: CloudStackClient) { self.client = client }

    public func snapshot(regionID: Int, regionName: String, now: Date = Date(), logger: Logger) async throws -> RegionSnapshot {
        async let zones = client.listZones(logger: logger)
        async let hosts = client.listHosts(type: "Routing", logger: logger)
        async let capacity = client.listCapacity(logger: logger)
        async let machines = client.listVirtualMachines(logger: logger)
        async let templates = client.listTemplates(filter: .all, logger: logger)
        return RegionSnapshot(
            regionID: regionID, regionName: regionName, collected: Timestamps.string(from: now),
            zones: try await zones.map { .init(id: $0.id ?? "", name: $0.name ?? "", allocationState: $0.allocationstate) },
            hosts: Self.hosts(try await hosts), capacity: Self.capacity(try await capacity),
            virtualMachines: Self.machines(try await machines), templates: Self.templates(try await templates))
    }

    static func hosts(_ hosts: [ComputeHost]) -> RegionSnapshot.Hosts {
        var out = RegionSnapshot.Hosts()
        for host in hosts {
            out.total += 1
            let state = host.state ?? "Unknown"
            if state == "Up" { out.up += 1 } else { out.other[state, default: 0] += 1 }
            out.cpuCores += host.cpunumber ?? 0
            out.cpuMHz += Int64(host.cpunumber ?? 0) * (host.cpuspeed ?? 0)
            out.memoryBytes += host.memorytotal ?? 0
            out.memoryUsedBytes += host.memoryused ?? 0
        }
        return out
    }

    /// Zone-level rows per type summed over zones (pod- and cluster-level rows, where an installation
    /// sends them, would count twice).
    static func capacity(_ rows: [Capacity]) -> [String: CapacityFigure] {
        let zoneRows = rows.filter { $0.podid == nil && $0.clusterid == nil }
        let counted = zoneRows.isEmpty ? rows : zoneRows
        var out: [String: CapacityFigure] = [:]
        for resource in Resource.allCases {
            let matching = counted.filter { $0.type == resource.capacityType }
            guard !matching.isEmpty else { continue }
            out[resource.rawValue] = matching.reduce(CapacityFigure()) {
                $0 + CapacityFigure(used: $1.capacityused ?? 0, total: $1.capacitytotal ?? 0)
            }
        }
        return out
    }

    static func machines(_ machines: [VirtualMachine]) -> RegionSnapshot.VirtualMachines {
        var out = RegionSnapshot.VirtualMachines()
        for vm in machines {
            out.total += 1
            out.byState[vm.state ?? "Unknown", default: 0] += 1
            out.byOffering[vm.serviceofferingname ?? "?", default: 0] += 1
            out.byTemplate[vm.templatename ?? "?", default: 0] += 1
            out.byAccount[vm.account ?? "?", default: 0] += 1
        }
        return out
    }

    static func templates(_ templates: [Template]) -> [RegionSnapshot.TemplateCopy] {
        templates.compactMap { t in
            let tags = Dictionary((t.tags ?? []).compactMap { tag in tag.key.map { ($0, tag.value ?? "") } }, uniquingKeysWith: { a, _ in a })
            guard let name = tags["mclouds.template"], let version = tags["mclouds.version"] else { return nil }
            let state = t.isready == true ? "ready" : (t.status ?? "registering")
            return .init(
                template: name, version: version, digest: tags["mclouds.digest"], state: state, featured: t.isfeatured ?? false,
                created: t.created?.description)
        }
    }
}
