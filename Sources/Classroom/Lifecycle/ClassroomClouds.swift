import CloudStack

/// The clouds the lifecycle engine works in: a client per region, the regions to sweep, and — to move seats a
/// region cannot deliver — the federation's capacity for a template and offering (as booking sees it).
public protocol ClassroomClouds: Sendable {
    /// Every region's id.
    func regionIDs() async throws -> [Int]
    /// A signed client of the region.
    func client(region: Int) async throws -> CloudStackClient
    /// Each region's capacity for seats of `offering` running `template`.
    func capacities(template: String, offering: String) async throws -> [RegionCapacity]
}
