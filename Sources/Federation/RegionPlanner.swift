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

/// What an installation's regions table must become so that it lists exactly the registry's regions.
public struct RegionPlan: Sendable, Hashable, Codable {
    /// The installation's own region id as its own regions table shows it (nil when no row can be told apart).
    public var ownRegionID: Int?
    /// Additions and updates, in the order they are applied.
    public var changes: [RegionAction]
    /// Rows the registry does not list; applied only when removals are allowed.
    public var removals: [RegionAction]
    /// Set when the registry's id for this installation disagrees with the installation's own: nothing is planned
    /// until the registry is fixed (applying it would remove or rename the installation's own row).
    public var idMismatch: IDMismatch?

    /// The registry says one id, the installation's own row another.
    public struct IDMismatch: Sendable, Hashable, Codable, CustomStringConvertible {
        public var registry: Int
        public var installation: Int

        public init(registry: Int, installation: Int) {
            self.registry = registry
            self.installation = installation
        }

        public var description: String {
            "the registry lists this installation as region \(registry), but its own regions table says it is region \(installation): "
                + "fix the registry (`mclouds region remove \(registry)`, then `region add --id \(installation)`); nothing is changed here until then"
        }
    }

    /// True when there is nothing to do.
    public var isEmpty: Bool { changes.isEmpty && removals.isEmpty }
}

/// Plans an installation's regions table (pure; no I/O).
///
/// The installation's own row is recognised by its endpoint (the registry's endpoint for it), or, on an
/// installation whose table still has CloudStack's schema row (`http://localhost:8080/client/`) or only one row,
/// by that row. The own row is never removed, and a registry id that disagrees with it blocks the plan.
/// Removals are listed apart from the other changes; additions come last so a name freed by an update can be taken.
public enum RegionPlanner {
    public static func plan(registry: [FederationRegion], installed: [Region], installation: FederationRegion) -> RegionPlan {
        let own = ownRow(installed: installed, endpoint: installation.cloudStackEndpoint)
        var plan = RegionPlan(ownRegionID: own?.id, changes: [], removals: [], idMismatch: nil)
        if let ownID = own?.id, ownID != installation.id {
            plan.idMismatch = .init(registry: installation.id, installation: ownID)
            return plan
        }
        let ownID = own?.id ?? installation.id
        let wanted = Dictionary(registry.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var updates: [RegionAction] = []
        var present = Set<Int>()
        for row in installed {
            guard let id = row.id else { continue }
            present.insert(id)
            guard let region = wanted[id] else {
                if id != ownID { plan.removals.append(.remove(id: id, name: row.name ?? "")) }
                continue
            }
            let name = row.name == region.name ? nil : region.name
            let endpoint = Self.sameEndpoint(row.endpoint, region.cloudStackEndpoint) ? nil : region.cloudStackEndpoint
            if name != nil || endpoint != nil { updates.append(.update(id: id, name: name, endpoint: endpoint)) }
        }
        let additions = registry.sorted { $0.id < $1.id }.filter { !present.contains($0.id) }.map {
            RegionAction.add(id: $0.id, name: $0.name, endpoint: $0.cloudStackEndpoint)
        }
        plan.changes = updates + additions
        return plan
    }

    /// The installation's own row: the one at its endpoint; else CloudStack's schema row (localhost), else a lone row.
    static func ownRow(installed: [Region], endpoint: String) -> Region? {
        if let row = installed.first(where: { sameEndpoint($0.endpoint, endpoint) }) { return row }
        let schemaRows = installed.filter { isSchemaPlaceholder($0.endpoint) }
        if schemaRows.count == 1 { return schemaRows[0] }
        return installed.count == 1 ? installed[0] : nil
    }

    /// CloudStack's schema creates region 1 as `('1','Local','http://localhost:8080/client/')`; no other
    /// installation can be reached at localhost, so such a row is the installation's own.
    static func isSchemaPlaceholder(_ endpoint: String?) -> Bool {
        guard let endpoint else { return false }
        return endpoint.hasPrefix("http://localhost:") || endpoint.hasPrefix("http://localhost/")
    }

    /// Endpoints compare without a trailing slash (CloudStack's default row ends in `/client/`).
    static func sameEndpoint(_ a: String?, _ b: String) -> Bool {
        a.map { FederationRegion.clientBase($0.lowercased()) } == FederationRegion.clientBase(b.lowercased())
    }
}
