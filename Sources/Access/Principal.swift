/// Who may do what in the federation. A role says what kind of caller it is; a scope narrows a partner admin to
/// one region and a site agent to one site.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable, CustomStringConvertible {
    case federationAdmin = "federation-admin"
    case partnerAdmin = "partner-admin"
    case teacher
    case student
    case siteAgent = "site-agent"

    public static func < (lhs: Role, rhs: Role) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    public var description: String { rawValue }

    /// Whether a principal of this role needs a scope (a partner admin's region, an agent's site).
    public var needsScope: Bool { self == .partnerAdmin || self == .siteAgent }
}

/// An authenticated caller: a token (or, later, a user session) with its role and scope.
public struct Principal: Sendable, Hashable, Codable {
    /// The token's id (`bootstrap` for the `MCLOUDS_ADMIN_TOKEN` / `--admin-token-file` tokens), never its secret.
    public var id: String
    public var role: Role
    /// The region id of a partner admin, the site name of a site agent; `nil` for the other roles.
    public var scope: String?

    public init(id: String, role: Role, scope: String? = nil) {
        self.id = id
        self.role = role
        self.scope = scope
    }

    /// The federation admin the bootstrap tokens stand for.
    public static let bootstrap = Principal(id: "bootstrap", role: .federationAdmin)
}
