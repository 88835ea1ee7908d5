import Access
import Core
import Foundation
import Hummingbird
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

        public init(
            host: String = "127.0.0.1", port: Int = 8080, adminTokens: [String] = [], publicURL: String? = nil, idleTimeout: Duration? = .seconds(60),
            addresses: AddressPolicy = AddressPolicy()
        ) {
            self.addresses = addresses
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
    let logger: Logger
    private let listening = ListeningPort()

    public init(
        configuration: Configuration, repository: Repository, federation: FederationServices? = nil, access: AccessServices? = nil,
        logger: Logger = Logger(label: "mclouds.server")
    ) {
        self.configuration = configuration
        self.repository = repository
        self.federation = federation
        self.access = access
        self.logger = logger
    }

    /// Waits until the server listens and returns its port (0 if it stopped before listening).
    public func waitUntilRunning() async -> Int { await listening.wait() }

    /// `http://host:port` once running.
    public var baseURL: String { "http://\(configuration.host):\(listening.port ?? configuration.port)" }

    /// Every route the server answers, for the OpenAPI check.
    public static var routes: [RouteDescription] {
        RepositoryAPI.routes + FederationAPI.routes + AccessAPI.routes + UsersAPI.routes + AccountPages.routes + [
            .init(method: "GET", path: "/openapi.yaml", policy: .public), .init(method: "GET", path: "/healthz", policy: .public),
        ]
    }

    func makeRouter() -> Router<ServerContext> {
        let base = Router(context: ServerContext.self)
        base.add(middleware: JSONErrorMiddleware())
        let gate = Gatekeeper(bootstrapTokens: configuration.adminTokens, access: access, addresses: configuration.addresses, logger: logger)
        let router = GuardedRouter(router: base, table: Self.routes, gate: gate)
        RepositoryAPI(repository: repository).register(on: router)
        if let federation {
            FederationAPI(services: federation, repository: repository).register(on: router)
        }
        if let access {
            AccessAPI(access: access).register(on: router)
            UsersAPI(administration: UserAdministration(users: access.users)).register(on: router)
            AccountPages(access: access, users: access.users, logger: logger).register(on: router)
        }
        router.get("/openapi.yaml") { [configuration, listening] request, _ in
            let url = configuration.publicURL ?? Self.requestURL(request) ?? "http://\(configuration.host):\(listening.port ?? configuration.port)"
            let text = OpenAPIDocument.text(serverURL: url)
            return Response(
                status: .ok, headers: [.contentType: "application/yaml", .contentLength: String(text.utf8.count)],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/healthz") { _, _ in JSONResponse.make(["status": "ok"]) }
        return base
    }

    /// `http://HOST` from the request's `Host` header when it is a plain host name or address with an optional port
    /// (anything else, a forged or odd header, is not echoed into the document).
    static func requestURL(_ request: Request) -> String? {
        guard let host = request.head.authority, !host.isEmpty, host.count <= 262,
            host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) })
        else { return nil }
        return "http://\(host)"
    }

    /// Runs a server for the duration of `body` (tests, demos) and stops it gracefully afterwards.
    public static func withRunning<T: Sendable>(
        _ configuration: Configuration, repository: Repository, federation: FederationServices? = nil, access: AccessServices? = nil,
        logger: Logger, _ body: (MCloudsServer) async throws -> T
    ) async throws -> T {
        let server = MCloudsServer(configuration: configuration, repository: repository, federation: federation, access: access, logger: logger)
        return try await ServiceScope.withRunning([server], logger: logger, ready: { _ = await server.waitUntilRunning() }) {
            try await body(server)
        }
    }

    public func run() async throws {
        try await HTTPService.run(
            router: HTTPConventions(router: makeRouter(), routes: Self.routes), host: configuration.host, port: configuration.port,
            serverName: "mclouds", listening: listening, idleTimeout: configuration.idleTimeout, logger: logger
        ) { port in
            self.logger.info("mclouds server listening", metadata: ["url": "http://\(self.configuration.host):\(port)"])
        }
    }
}

/// Runs a Hummingbird application until shut down, announcing its port through `listening` (0 when it
/// stops or never starts, so nobody waits forever).
enum HTTPService {
    static func run<Context: RequestContext, Builder: HTTPResponderBuilder>(
        router: Builder, host: String, port: Int, serverName: String, listening: ListeningPort, idleTimeout: Duration?, logger: Logger,
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws where Context.Source == ApplicationRequestContextSource, Builder.Responder.Context == Context {
        // Idle (and half-open) connections are closed after `idleTimeout`, so that they cannot use up the
        // descriptors; CONNECT gets a complete answer and a closed connection.
        let idle = idleTimeout.map(TimeAmount.init)
        let app = Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [ConnectRefusal()], idleTimeout: idle)),
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
