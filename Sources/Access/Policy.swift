/// Who may call a route, declared with the route: anonymous callers or not, which roles, and how a scoped
/// principal's scope must match the request (the route's `{site}` or `{id}`).
public struct Policy: Sendable, Hashable, CustomStringConvertible {
    /// Anyone, authenticated or not (what is safe to publish: signed catalogs, chunks, health).
    public var anonymous: Bool
    /// The roles admitted when a principal is present (all roles for a public route).
    public var roles: Set<Role>
    /// The route parameter a scoped role's scope must equal; `nil`: scoped roles are admitted for any value.
    public var scopeParameter: String?

    public init(anonymous: Bool, roles: Set<Role>, scopeParameter: String? = nil) {
        self.anonymous = anonymous
        self.roles = roles
        self.scopeParameter = scopeParameter
    }

    /// Anyone.
    public static let `public` = Policy(anonymous: true, roles: Set(Role.allCases))
    /// Federation admins only.
    public static let federationAdmin = Policy(anonymous: false, roles: [.federationAdmin])
    /// Federation admins, and partner admins (scoped to their region by the handler or `scopeParameter`).
    public static let admins = Policy(anonymous: false, roles: [.federationAdmin, .partnerAdmin])
    /// Any authenticated principal.
    public static let authenticated = Policy(anonymous: false, roles: Set(Role.allCases))
    /// Any person (every role but the site agents, which are tokens).
    public static let people = Policy(anonymous: false, roles: [.federationAdmin, .partnerAdmin, .teacher, .student])

    /// Federation admins, and the site agent of the site the route's `parameter` names.
    public static func siteAgent(parameter: String) -> Policy {
        Policy(anonymous: false, roles: [.federationAdmin, .siteAgent], scopeParameter: parameter)
    }

    /// What the policy says of `principal` (nil: anonymous) asking with these route parameters.
    public func decide(_ principal: Principal?, parameters: [String: String]) -> Decision {
        guard let principal else { return anonymous ? .allow : .unauthenticated }
        if anonymous { return .allow }
        guard roles.contains(principal.role) else { return .forbidden }
        if principal.role.needsScope, let scopeParameter {
            guard let scope = principal.scope, parameters[scopeParameter] == scope else { return .forbidden }
        }
        return .allow
    }

    /// The answer to one request.
    public enum Decision: Sendable, Hashable {
        case allow
        /// 401: no (valid) credentials and the route needs some.
        case unauthenticated
        /// 403: authenticated, but not allowed here.
        case forbidden
    }

    public var description: String {
        if anonymous { return "public" }
        let names = roles.sorted().map(\.rawValue).joined(separator: ", ")
        return scopeParameter.map { "\(names) (scoped by {\($0)})" } ?? names
    }
}
