import CloudStack

/// One change to an installation's regions table.
public enum RegionAction: Sendable, Hashable, Codable, CustomStringConvertible {
    case add(id: Int, name: String, endpoint: String)
    case update(id: Int, name: String?, endpoint: String?)
    case remove(id: Int, name: String)

    /// The diff line: `+ 6 MECA-TUS http://…`, `~ 1 name Local → MECA-PolITO`, `- 9 Old`.
    public var description: String {
        switch self {
        case .add(let id, let name, let endpoint): return "+ \(id) \(name) \(endpoint)"
        case .update(let id, let name, let endpoint):
            var parts: [String] = []
            if let name { parts.append("name → \(name)") }
            if let endpoint { parts.append("endpoint → \(endpoint)") }
            return "~ \(id) " + parts.joined(separator: ", ")
        case .remove(let id, let name): return "- \(id) \(name)"
        }
    }
}

/// What an installation's regions table must become so that it lists exactly the registry's regions
/// (pure; no I/O). Removals come first and additions last, so a name freed by one change can be taken by
/// another. The installation's own row (its region id) is never removed: CloudStack needs it.
public enum RegionPlanner {
    public static func plan(registry: [FederationRegion], installed: [Region], localID: Int) -> [RegionAction] {
        let wanted = Dictionary(registry.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var removals: [RegionAction] = []
        var updates: [RegionAction] = []
        var additions: [RegionAction] = []
        var present = Set<Int>()
        for row in installed {
            guard let id = row.id else { continue }
            present.insert(id)
            guard let region = wanted[id] else {
                if id != localID { removals.append(.remove(id: id, name: row.name ?? "")) }
                continue
            }
            let name = row.name == region.name ? nil : region.name
            let endpoint = Self.sameEndpoint(row.endpoint, region.cloudStackEndpoint) ? nil : region.cloudStackEndpoint
            if name != nil || endpoint != nil { updates.append(.update(id: id, name: name, endpoint: endpoint)) }
        }
        for region in registry.sorted(by: { $0.id < $1.id }) where !present.contains(region.id) {
            additions.append(.add(id: region.id, name: region.name, endpoint: region.cloudStackEndpoint))
        }
        return removals + updates + additions
    }

    /// Endpoints compare without a trailing slash (CloudStack's default row ends in `/client/`).
    static func sameEndpoint(_ a: String?, _ b: String) -> Bool {
        func trimmed(_ s: String) -> String {
            var s = s
            while s.hasSuffix("/") { s.removeLast() }
            return s
        }
        return a.map(trimmed) == trimmed(b)
    }
}
