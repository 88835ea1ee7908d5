import Classroom
import CloudStack
import Dashboard
import Federation
import Foundation
import Logging
import Synchronization
import TemplateRepository

/// The federation as the classroom scheduler sees it: clients from the registry's keys; each region's capacity
/// from the dashboard's latest snapshot (CPU and memory, with the scheduler's own standing seats taken out so
/// they are not counted twice), what a seat of an offering takes there (asked of the region, cached), and
/// whether a template is Ready there (its site agent — the site named as the region — reported it ready).
struct FederationClouds: ClassroomClouds {
    let registry: RegionRegistry
    let snapshots: SnapshotStore
    let repository: Repository
    let store: ClassroomStore
    let logger: Logger
    let offerings = OfferingCache()

    func regionIDs() async throws -> [Int] { try await registry.list().map(\.id) }

    func client(region: Int) async throws -> CloudStackClient {
        let entry = try await registry.region(String(region))
        let keys = try await registry.credentials(region)
        return CloudStackClient(
            configuration: .init(endpoint: entry.endpoint, apiKey: keys.apiKey, secretKey: keys.secretKey, region: entry.name),
            httpClient: try entry.apiHTTPClient(logger: logger))
    }

    func capacities(template: String, offering: String) async throws -> [RegionCapacity] {
        let regions = try await registry.list()
        let latest = try await snapshots.latest()
        let ready = Set(
            try await repository.rollout().filter { $0.template == template && $0.state.hasPrefix("ready") }.map(\.site))
        let standing = try await store.standingUsage()
        let deployTimes = template.isEmpty ? [:] : try await store.deployTimes(template: template)
        var result: [RegionCapacity] = []
        for region in regions {
            guard let snapshot = latest[region.id]?.snapshot, latest[region.id]?.stale == false else { continue }
            let cpu = snapshot.capacity[Resource.cpu.rawValue] ?? CapacityFigure(used: 0, total: 0)
            let memory = snapshot.capacity[Resource.memory.rawValue] ?? CapacityFigure(used: 0, total: 0)
            let ours = standing[region.id] ?? SeatSize(cpuMHz: 0, memoryBytes: 0)
            result.append(
                RegionCapacity(
                    regionID: region.id, name: region.name, cpuMHz: cpu.total, cpuMHzUsed: max(0, cpu.used - ours.cpuMHz), memoryBytes: memory.total,
                    memoryBytesUsed: max(0, memory.used - ours.memoryBytes), seatSize: await seatSize(region: region.id, offering: offering),
                    templateReady: ready.contains(region.name), measuredDeploySeconds: deployTimes[region.id]))
        }
        return result
    }

    /// A seat of `offering` in `region` (cores × MHz, memory), asked once per ten minutes; nil when it has none.
    func seatSize(region: Int, offering: String) async -> SeatSize? {
        if offering.isEmpty { return nil }
        if let cached = offerings.get("\(region)/\(offering)") { return cached }
        do {
            let found = try await client(region: region).listServiceOfferings(name: offering, logger: logger).first { $0.name == offering }
            let size = found.flatMap { o -> SeatSize? in
                guard let cpus = o.cpunumber, let speed = o.cpuspeed, let memory = o.memory else { return nil }
                return SeatSize(cpuMHz: Int64(cpus * speed), memoryBytes: Int64(memory) << 20)
            }
            offerings.set("\(region)/\(offering)", size)
            return size
        } catch {
            logger.warning("service offering not read", metadata: ["region.id": "\(region)", "offering": "\(offering)", "error": "\(error)"])
            return nil
        }
    }
}

/// Offering sizes per region, kept for ten minutes.
final class OfferingCache: Sendable {
    private let entries = Mutex<[String: (SeatSize?, Date)]>([:])

    func get(_ key: String) -> SeatSize?? {
        entries.withLock { entries in
            guard let (size, time) = entries[key], Date().timeIntervalSince(time) < 600 else { return nil }
            return .some(size)
        }
    }

    func set(_ key: String, _ size: SeatSize?) { entries.withLock { $0[key] = (size, Date()) } }
}
