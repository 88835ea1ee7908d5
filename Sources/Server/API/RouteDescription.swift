import Access

/// One route of the API and who may call it, as the OpenAPI document (`openapi.yaml`) declares it: the gatekeeper
/// enforces its policy, and a handler can be registered only for a documented route. Identified by method and path.
public struct RouteDescription: Sendable, Hashable {
    public let method: String
    /// The path in OpenAPI form, e.g. `/api/v1/chunks/{digest}`.
    public let path: String
    public let policy: Policy

    public init(method: String, path: String, policy: Policy) {
        self.method = method
        self.path = path
        self.policy = policy
    }

    /// A server-rendered page (errors answered as HTML, a missing session sent to the login form), not the JSON API.
    public var isPage: Bool {
        !path.hasPrefix("/api/") && !path.hasPrefix("/calendar/") && !["/openapi.yaml", "/healthz", "/metrics"].contains(path)
    }

    /// The allowlist group the route belongs to (nil: never address-locked — `/healthz`, for load balancers).
    public var group: AddressPolicy.Group? {
        if path == "/healthz" { return nil }
        if ["/login", "/logout", "/account"].contains(where: { path.hasPrefix($0) }) { return .login }
        if path == "/my" || path.hasPrefix("/my/") || path.hasPrefix("/api/v1/my/") { return .students }
        if !policy.anonymous { return policy.roles.contains(.siteAgent) ? .agent : .admin }
        let downloads = ["/api/v1/chunks", "/api/v1/catalog", "/api/v1/templates", "/api/v1/repository"]
        return downloads.contains { path.hasPrefix($0) } ? .downloads : .web
    }

    public static func == (lhs: RouteDescription, rhs: RouteDescription) -> Bool { lhs.method == rhs.method && lhs.path == rhs.path }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(method)
        hasher.combine(path)
    }
}
