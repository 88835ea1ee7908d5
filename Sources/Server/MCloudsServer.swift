import Access
import Builder
import Classroom
import Core
import Dashboard
import Federation
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TemplateRepository

/// The mClouds server: the template repository's HTTP API (later issues add the federation and the
/// dashboard). A `Service`: run it in a `ServiceGroup` for graceful shutdown.
///
/// ```swift
/// let server = MCloudsServer(configuration: .init(port: 0), repository: repository)
/// let group = ServiceGroup(services: [server], logger: logger)
/// ```
public final class MCloudsServer: Service, Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Tokens that may publish, withdraw and upload; empty turns those calls off.
        public var adminTokens: [String]
        /// The URL clients reach the server at (behind a proxy, say); absent, the OpenAPI document names the
        /// address the request came to (its `Host`), else the listening address.
        public var publicURL: String?
        /// How long a connection may sit idle (no request under way) before it is closed; `nil` never.
        public var idleTimeout: Duration?
        /// Which networks may reach which routes, and which proxies' `X-Forwarded-For` is believed.
        public var addresses: AddressPolicy
        /// HTTPS with this certificate and key (reloadable); nil: plain HTTP (behind a TLS-terminating proxy).
        public var tls: TLSIdentity?
        /// With ``tls``: a plain-HTTP port that answers every request with a permanent redirect to HTTPS.
        public var redirectHTTPPort: Int?

        public init(
            host: String = "127.0.0.1", port: Int = 8080, adminTokens: [String] = [], publicURL: String? = nil, idleTimeout: Duration? = .seconds(60),
            addresses: AddressPolicy = AddressPolicy(), tls: TLSIdentity? = nil, redirectHTTPPort: Int? = nil
        ) {
            self.addresses = addresses
            self.tls = tls
            self.redirectHTTPPort = redirectHTTPPort
            self.host = host
            self.port = port
            self.adminTokens = adminTokens
            self.publicURL = publicURL
            self.idleTimeout = idleTimeout
        }
    }

    public let configuration: Configuration
    public let repository: Repository
    /// The region registry and the dashboard (absent: those routes answer 404).
    public let federation: FederationServices?
    /// Issued tokens and the audit log (absent: only the bootstrap admin tokens authenticate, nothing is audited).
    public let access: AccessServices?
    /// The classroom scheduler's store (its API is served with a federation).
    public let classroom: ClassroomStore?
    /// The template builder (its API is served with a federation).
    public let builds: BuildRunner?
    let logger: Logger
    private let listening = ListeningPort()
    private let redirecting = ListeningPort()

    public init(
        configuration: Configuration, repository: Repository, federation: FederationServices? = nil, access: AccessServices? = nil,
        classroom: ClassroomStore? = nil, builds: BuildRunner? = nil, logger: Logger = Logger(label: "mclouds.server")
    ) {
        self.classroom = classroom
        self.builds = builds
        self.configuration = configuration
        self.repository = repository
        self.federation = federation
        self.access = access
        self.logger = logger
    }

    /// Waits until the server listens and returns its port (0 if it stopped before listening).
    public func waitUntilRunning() async -> Int { await listening.wait() }

    /// `http(s)://host:port` once running.
    public var baseURL: String { "\(scheme)://\(configuration.host):\(listening.port ?? configuration.port)" }

    /// `https` with TLS, else `http`.
    public var scheme: String { configuration.tls == nil ? "http" : "https" }

    /// The redirect listener's port once running (with ``Configuration/redirectHTTPPort``).
    public func waitUntilRedirecting() async -> Int { await redirecting.wait() }

    /// Every route of the API document (`openapi.yaml`) with the policy it declares.
    public static var routes: [RouteDescription] { OpenAPIDocument.routes }

    /// The documented routes this server's configuration registers handlers for (all of them with a federation
    /// and access control; a test checks that none is missing).
    public func answeredRoutes() -> Set<RouteDescription> { makeRouter().answered }

    /// The federation as the classroom scheduler and its lifecycle engine see it.
    public func classroomClouds(federation: FederationServices, store: ClassroomStore) -> any ClassroomClouds {
        FederationClouds(registry: federation.registry, snapshots: federation.collector.store, repository: repository, store: store, logger: logger)
    }

    func makeRouter() -> (router: Router<ServerContext>, answered: Set<RouteDescription>) {
        let base = Router(context: ServerContext.self)
        base.add(middleware: JSONErrorMiddleware())
        let gate = Gatekeeper(bootstrapTokens: configuration.adminTokens, access: access, addresses: configuration.addresses, logger: logger)
        let router = GuardedRouter(router: base, table: Self.routes, gate: gate)
        RepositoryAPI(repository: repository).register(on: router)
        if let federation {
            FederationAPI(services: federation, repository: repository).register(on: router)
            if let classroom {
                let clouds = classroomClouds(federation: federation, store: classroom)
                let api = ClassroomAPI(
                    store: classroom, clouds: clouds, planning: .init(),
                    publicURL: { [configuration, listening] request in Self.publicURL(request, configuration, listening.port) })
                api.register(on: router)
                ClassroomPages(api: api).register(on: router)
                let seats = SeatsAPI(api: api, secrets: federation.registry.secrets, logger: logger)
                seats.register(on: router)
                StudentPages(seats: seats).register(on: router)
            }
            if let builds { BuildsAPI(runner: builds).register(on: router) }
        }
        if let access {
            AccessAPI(access: access).register(on: router)
            UsersAPI(administration: UserAdministration(users: access.users)).register(on: router)
            AccountPages(access: access, users: access.users, logger: logger).register(on: router)
        }
        router.get("/openapi.yaml") { [configuration, listening] request, _ in
            let text = OpenAPIDocument.text(serverURL: Self.publicURL(request, configuration, listening.port))
            return Response(
                status: .ok, headers: [.contentType: "application/yaml", .contentLength: String(text.utf8.count)],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/healthz") { _, _ in JSONResponse.make(["status": "ok"]) }
        return (base, router.answered)
    }

    /// The server's address as its clients know it: the configured public URL, else the address the request came
    /// to (its `Host`), else the listening address.
    static func publicURL(_ request: Request, _ configuration: Configuration, _ port: Int?) -> String {
        let scheme = configuration.tls == nil ? "http" : "https"
        return configuration.publicURL ?? requestURL(request, scheme: scheme) ?? "\(scheme)://\(configuration.host):\(port ?? configuration.port)"
    }

    /// `http://HOST` from the request's `Host` header when it is a plain host name or address with an optional port
    /// (anything else, a forged or odd header, is not echoed into the document).
    static func requestURL(_ request: Request, scheme: String = "http") -> String? {
        requestHost(request).map { "\(scheme)://\($0)" }
    }

    /// The request's `Host` when it is a plain host name or address with an optional port.
    static func requestHost(_ request: Request) -> String? {
        guard let host = request.head.authority, !host.isEmpty, host.count <= 262,
            host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) })
        else { return nil }
        return host
    }

    /// Runs a server for the duration of `body` (tests, demos) and stops it gracefully afterwards.
    public static func withRunning<T: Sendable>(
        _ configuration: Configuration, repository: Repository, federation: FederationServices? = nil, access: AccessServices? = nil,
        classroom: ClassroomStore? = nil, builds: BuildRunner? = nil, logger: Logger, _ body: (MCloudsServer) async throws -> T
    ) async throws -> T {
        let server = MCloudsServer(
            configuration: configuration, repository: repository, federation: federation, access: access, classroom: classroom, builds: builds,
            logger: logger)
        return try await ServiceScope.withRunning([server], logger: logger, ready: { _ = await server.waitUntilRunning() }) {
            try await body(server)
        }
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await HTTPService.run(
                    router: HTTPConventions(router: self.makeRouter().router, routes: Self.routes), host: self.configuration.host,
                    port: self.configuration.port, serverName: "mclouds", listening: self.listening, idleTimeout: self.configuration.idleTimeout,
                    tls: self.configuration.tls, logger: self.logger
                ) { port in
                    self.logger.info("mclouds server listening", metadata: ["url": "\(self.scheme)://\(self.configuration.host):\(port)"])
                }
            }
            if let redirectPort = configuration.redirectHTTPPort, configuration.tls != nil {
                group.addTask { try await self.runRedirect(port: redirectPort) }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Plain HTTP that sends every request to the same path over HTTPS (308: the method and body are kept).
    func runRedirect(port: Int) async throws {
        let router = Router()
        let listening = listening
        let configuration = configuration
        router.get("/healthz") { _, _ in JSONResponse.make(["status": "ok"]) }
        let redirect: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let target: String
            if let host = Self.requestHost(request) {
                // The host without its port, then the HTTPS port.
                let name =
                    host.hasPrefix("[")
                    ? String(host[...(host.firstIndex(of: "]") ?? host.startIndex)]) : String(host.split(separator: ":").first ?? "")
                let httpsPort = listening.port ?? configuration.port
                target = "https://\(name)\(httpsPort == 443 ? "" : ":\(httpsPort)")"
            } else if let publicURL = configuration.publicURL {
                target = publicURL
            } else {
                throw HTTPError(.badRequest, message: "A request without a usable Host header cannot be redirected to HTTPS.")
            }
            return Response(status: .permanentRedirect, headers: [.location: target + request.uri.description, .contentLength: "0"])
        }
        router.on("**", method: .get, use: redirect)
        router.on("**", method: .head, use: redirect)
        router.on("**", method: .post, use: redirect)
        router.on("**", method: .put, use: redirect)
        router.on("**", method: .delete, use: redirect)
        router.on("/", method: .get, use: redirect)
        try await HTTPService.run(
            router: router, host: configuration.host, port: port, serverName: "mclouds", listening: redirecting,
            idleTimeout: configuration.idleTimeout,
            tls: nil, logger: logger)
    }
}

/// Runs a Hummingbird application until shut down, announcing its port through `listening` (0 when it
/// stops or never starts, so nobody waits forever).
enum HTTPService {
    static func run<Context: RequestContext, Builder: HTTPResponderBuilder>(
        router: Builder, host: String, port: Int, serverName: String, listening: ListeningPort, idleTimeout: Duration?, tls: TLSIdentity? = nil,
        logger: Logger, onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws where Context.Source == ApplicationRequestContextSource, Builder.Responder.Context == Context {
        // Idle (and half-open) connections are closed after `idleTimeout`, so that they cannot use up the
        // descriptors; CONNECT gets a complete answer and a closed connection.
        let idle = idleTimeout.map(TimeAmount.init)
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [ConnectRefusal()], idleTimeout: idle)
        // With TLS, each new connection takes the identity's context of the moment (reloads reach new connections only).
        let server: HTTPServerBuilder =
            tls.map { identity in
                HTTPServerBuilder { responder in
                    ReloadableTLSChannel(base: HTTP1Channel(responder: responder, configuration: http1), identity: identity)
                }
            } ?? .http1(configuration: http1)
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: serverName),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? 0
                listening.set(bound)
                onListening(bound)
            }, logger: logger)
        do {
            try await app.run()
        } catch {
            listening.set(0)
            throw error
        }
        listening.set(0)
    }
}

/// The port a server listens on, and the tasks waiting to learn it.
final class ListeningPort: Sendable {
    private struct State {
        var port: Int?
        var waiters: [CheckedContinuation<Int, Never>] = []
    }
    private let state = Mutex(State())

    var port: Int? { state.withLock { $0.port } }

    /// Records the port (0: stopped) and wakes the waiters; the first value sticks.
    func set(_ port: Int) {
        let waiters = state.withLock { state -> [CheckedContinuation<Int, Never>] in
            if state.port == nil { state.port = port }
            defer { state.waiters = [] }
            return state.waiters
        }
        let value = self.port ?? port
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func wait() async -> Int {
        await withCheckedContinuation { continuation in
            let known: Int? = state.withLock { state in
                if let port = state.port { return port }
                state.waiters.append(continuation)
                return nil
            }
            if let known { continuation.resume(returning: known) }
        }
    }
}
