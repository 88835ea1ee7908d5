import Access
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The request context of the server's API: Hummingbird's core context, the peer address the connection
/// came from, and the principal the gatekeeper admitted.
public struct ServerContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Who the request is from (nil: anonymous), set before the handler runs.
    public var principal: Principal?
    /// The client's address: the peer's, or the one a trusted proxy forwarded (set before the handler runs).
    public var client: String?
    /// The web session the request came with (set before the handler runs; nil for tokens and anonymous callers).
    var session: WebSession?
    /// A web form's fields, read (and its CSRF token checked) before the handler runs.
    var form: [String: String] = [:]
    /// What the handler says its change did, for the audit entry the gatekeeper writes after it.
    let audit = AuditNote()

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The peer's address as text.
    var peer: String { remoteAddress?.ipAddress ?? "unknown" }
    /// The client's address as text (for logs and the audit log).
    var source: String { client ?? peer }
}

/// The identities and records behind the API's policies: the tokens issued (``TokenStore``), the people and
/// their web sessions (``UserStore``), and the audit log.
public struct AccessServices: Sendable {
    public let tokens: TokenStore
    public let users: UserStore
    public let audit: AuditLog

    public init(tokens: TokenStore, users: UserStore, audit: AuditLog) {
        self.tokens = tokens
        self.users = users
        self.audit = audit
    }
}

/// Admits or refuses each request by its route's policy, from `Authorization: Bearer …` — a bootstrap admin
/// token (`MCLOUDS_ADMIN_TOKEN` / `--admin-token-file`, a federation admin) or a token of the ``TokenStore`` —
/// or else from a web session cookie. A change made with a session cookie must carry the session's CSRF token
/// (an `X-CSRF-Token` header for the JSON API, a `csrf` field for a form), and an anonymous form (login) the
/// value of its own cookie. Refusals are logged with the source address and audited; every change is audited
/// with its result.
struct Gatekeeper: Sendable {
    let bootstrap: [[UInt8]]
    let access: AccessServices?
    let addresses: AddressPolicy
    let logger: Logger

    init(bootstrapTokens: [String], access: AccessServices?, addresses: AddressPolicy = AddressPolicy(), logger: Logger) {
        bootstrap = bootstrapTokens.filter { !$0.isEmpty }.map { Array(SHA256.hash(data: Array($0.utf8))) }
        self.access = access
        self.addresses = addresses
        self.logger = logger
    }

    /// The client's address for `request`, believing `Forwarded` / `X-Forwarded-For` only from a trusted proxy.
    func client(_ request: Request, _ context: ServerContext) -> String {
        addresses.client(
            peer: context.peer, forwardedFor: request.headers[HTTPField.Name("X-Forwarded-For")!],
            forwarded: request.headers[HTTPField.Name("Forwarded")!])
    }

    /// The principal the request's credentials stand for, and its web session; nil without credentials (an ended
    /// session's cookie counts as none).
    /// - Throws: 401 for a bearer credential that is not a valid token (unknown, expired, revoked, malformed).
    func credentials(_ request: Request) async throws -> (Principal?, WebSession?) {
        guard request.headers[.authorization] == nil else { return (try await principal(request), nil) }
        guard let users = access?.users, let cookie = request.cookies[WebPage.sessionCookie]?.value, !cookie.isEmpty,
            let (user, csrf) = try await users.authenticate(session: cookie)
        else { return (nil, nil) }
        return (user.principal, WebSession(user: user, csrf: csrf, secret: cookie))
    }

    /// The principal a bearer token stands for; nil without one.
    /// - Throws: 401 for credentials that are not a valid token (unknown, expired, revoked, malformed).
    func principal(_ request: Request) async throws -> Principal? {
        guard let header = request.headers[.authorization] else { return nil }
        // The scheme is case-insensitive (RFC 9110 §11.1): "Bearer", "bearer" and "BEARER" are the same.
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else { throw APIError.unauthorized() }
        let secret = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        let given = Array(SHA256.hash(data: Array(secret.utf8)))
        var matched = false
        for digest in bootstrap where digest == given { matched = true }  // every digest compared: timing tells nothing
        if matched { return .bootstrap }
        if let principal = try await access?.tokens.authenticate(secret) { return principal }
        throw APIError.unauthorized()
    }

    /// The principal admitted to `route` and its web session, or the error that refuses it (logged and audited).
    func admit(_ route: RouteDescription, _ request: Request, _ context: ServerContext) async throws -> (Principal?, WebSession?) {
        if let group = route.group, !addresses.admits(context.source, to: group) {
            await refuse(route, context, actor: "anonymous", role: "-", status: 403)
            throw APIError.addressNotAllowed(context.source, group: group)
        }
        let principal: Principal?
        let session: WebSession?
        do {
            (principal, session) = try await credentials(request)
        } catch {
            await refuse(route, context, actor: "anonymous", role: "-", status: 401)
            throw error
        }
        let parameters = route.policy.scopeParameter.flatMap { name in context.parameters.get(name).map { [name: $0] } } ?? [:]
        switch route.policy.decide(principal, parameters: parameters) {
        case .allow:
            return (principal, session)
        case .unauthenticated:
            await refuse(route, context, actor: "anonymous", role: "-", status: bootstrap.isEmpty && access == nil ? 403 : 401)
            // A server with no way to authenticate anyone has changes turned off.
            throw bootstrap.isEmpty && access == nil ? APIError.publishingDisabled() : APIError.unauthorized()
        case .forbidden:
            await refuse(route, context, actor: principal?.id ?? "anonymous", role: principal?.role.rawValue ?? "-", status: 403)
            throw APIError.forbidden(route.policy)
        }
    }

    /// Checks that a change made from a browser carries its CSRF token (see the type's description); reads a
    /// form's fields. Changes made with a bearer token need none: a token is never sent by a browser on its own.
    func checkForgery(_ route: RouteDescription, _ request: Request, _ context: ServerContext) async throws -> [String: String] {
        let changes = route.method != "GET" && route.method != "HEAD"
        guard changes else { return [:] }
        if route.isPage {
            let form = try await WebPage.form(request)
            if request.headers[.authorization] != nil, context.principal != nil { return form }
            let expected = context.session?.csrf ?? request.cookies[WebPage.loginCookie]?.value ?? ""
            guard !expected.isEmpty, Self.same(form["csrf"] ?? "", expected) else {
                await refuse(route, context, actor: context.principal?.id ?? "anonymous", role: context.principal?.role.rawValue ?? "-", status: 403)
                throw APIError.forgery(page: true)
            }
            return form
        }
        if let session = context.session {
            guard Self.same(request.headers[HTTPField.Name("X-CSRF-Token")!] ?? "", session.csrf) else {
                await refuse(route, context, actor: context.principal?.id ?? "anonymous", role: context.principal?.role.rawValue ?? "-", status: 403)
                throw APIError.forgery(page: false)
            }
        }
        return [:]
    }

    /// Compares two secrets in time that does not depend on where they differ.
    static func same(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8)
        let b = Array(expected.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private func refuse(_ route: RouteDescription, _ context: ServerContext, actor: String, role: String, status: Int) async {
        logger.notice(
            "request refused",
            metadata: [
                "http.method": "\(route.method)", "http.route": "\(route.path)", "http.status": "\(status)", "source": "\(context.source)",
                "actor": "\(actor)",
            ])
        await record(route, context, actor: actor, role: role, result: "\(status) refused")
    }

    /// One line per request: method, route (never the query string, which may carry signatures), status,
    /// duration, who and from where.
    func logRequest(_ route: RouteDescription, _ context: ServerContext, status: Int, started: ContinuousClock.Instant) {
        logger.info(
            "request",
            metadata: [
                "http.method": "\(route.method)", "http.route": "\(route.path)", "http.status": "\(status)",
                "duration_ms": "\(Int((ContinuousClock.now - started) / .milliseconds(1)))", "actor": "\(context.principal?.id ?? "anonymous")",
                "source": "\(context.source)",
            ])
    }

    /// Audits a change (or a refusal) with the summary its handler gave; a failure to write the audit log is logged,
    /// never hidden.
    func record(_ route: RouteDescription, _ context: ServerContext, actor: String, role: String, result: String) async {
        guard let audit = access?.audit else { return }
        let target = context.parameters.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
        do {
            try await audit.append(
                actor: actor, role: role, source: context.source, action: "\(route.method) \(route.path)", target: target, result: result,
                summary: context.audit.summary)
        } catch {
            logger.error("the audit log could not be written", metadata: ["error": "\(error)"])
        }
    }
}

/// Registers handlers for the routes of a route table, each behind its declared policy: a handler for a route
/// the table lacks stops the server at start-up (so no route goes without a policy).
struct GuardedRouter {
    let router: Router<ServerContext>
    let table: [RouteDescription]
    let gate: Gatekeeper
    private let registered = Registered()

    init(router: Router<ServerContext>, table: [RouteDescription], gate: Gatekeeper) {
        self.router = router
        self.table = table
        self.gate = gate
    }

    /// The routes handlers were registered for so far.
    var answered: Set<RouteDescription> { registered.routes.withLock { $0 } }

    private final class Registered: Sendable {
        let routes = Mutex<Set<RouteDescription>>([])
    }

    func on(
        _ method: HTTPRequest.Method, _ path: String,
        _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response
    ) {
        guard let route = table.first(where: { $0.method == method.rawValue && $0.path == path }) else {
            preconditionFailure("\(method) \(path) is not in openapi.yaml: document it there with its x-mclouds-policy")
        }
        registered.routes.withLock { _ = $0.insert(route) }
        let gate = gate
        router.on(RouterPath(path), method: method) { request, context in
            let started = ContinuousClock.now
            var context = context
            context.client = gate.client(request, context)
            var status = 500
            defer { gate.logRequest(route, context, status: status, started: started) }
            do {
                (context.principal, context.session) = try await gate.admit(route, request, context)
                context.form = try await gate.checkForgery(route, request, context)
            } catch {
                status = JSONErrorMiddleware<ServerContext>.detail(for: error).status
                // A page asked for without a session goes to the login form and comes back after it.
                if route.isPage, route.method == "GET", status == 401 {
                    status = 303
                    return WebPage.redirect("/login?next=" + (request.uri.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"))
                }
                if route.isPage { return WebPage.error(status, JSONErrorMiddleware<ServerContext>.detail(for: error).message, context: context) }
                throw error
            }
            let actor = context.principal?.id ?? "anonymous"
            let role = context.principal?.role.rawValue ?? "-"
            do {
                let response = try await handler(request, context)
                status = Int(response.status.code)
                if method != .get && method != .head { await gate.record(route, context, actor: actor, role: role, result: "\(status)") }
                return response
            } catch {
                let detail = JSONErrorMiddleware<ServerContext>.detail(for: error)
                status = detail.status
                if method != .get && method != .head { await gate.record(route, context, actor: actor, role: role, result: "\(status)") }
                if route.isPage {
                    if status >= 500 { gate.logger.error("page failed", metadata: ["http.route": "\(route.path)", "error": "\(error)"]) }
                    return WebPage.error(status, detail.message, context: context)
                }
                throw error
            }
        }
    }

    func get(_ path: String, _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response) { on(.get, path, handler) }
    func post(_ path: String, _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response) { on(.post, path, handler) }
    func put(_ path: String, _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response) { on(.put, path, handler) }
    func patch(_ path: String, _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response) { on(.patch, path, handler) }
    func delete(_ path: String, _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response) { on(.delete, path, handler) }
    func head(_ path: String, _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response) { on(.head, path, handler) }
}
