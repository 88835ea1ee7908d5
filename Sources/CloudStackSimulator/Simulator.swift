import CloudStack
import Core
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A simulated Apache CloudStack management server: the signed API at `/client/api`, async jobs,
/// secondary storage that really downloads templates, capacity that moves with VMs, and fault injection.
///
/// Run it as a `Service` (or with ``withRunning(_:logger:_:)`` in tests) and talk to ``endpoint`` with
/// ``adminKeys`` — or with any CloudStack client.
///
/// ```swift
/// try await Simulator.withRunning(.default(regionName: "MECA-TUS"), logger: logger) { simulator in
///     let client = CloudStackClient(configuration: .init(endpoint: simulator.endpoint, apiKey: simulator.adminKeys.apikey!,
///                                                        secretKey: simulator.adminKeys.secretkey!))
///     print(try await client.listZones(logger: logger))
/// }
/// ```
public final class Simulator: Service, Sendable {
    /// The configuration the simulator started with (faults can change later through ``setFaults(_:)``).
    public let configuration: SimulatorConfiguration
    let store: WorldStore
    let logger: Logger
    let clock: @Sendable () -> Date
    let storageDirectory: URL
    let downloadRequests: AsyncStream<DownloadRequest>.Continuation
    let _downloadStream: AsyncStream<DownloadRequest>
    private let runtime = Mutex(Runtime())
    /// Listeners of the forwarded public ports.
    let guestPorts: GuestPorts

    struct Runtime {
        var faults = FaultConfiguration()
        var port: Int?
        var waiters: [CheckedContinuation<Int, Never>] = []
        var dirty = false
        var requestCounts: [String: Int] = [:]
        /// When the last 1,000 requests of each command arrived.
        var requestTimes: [String: [ContinuousClock.Instant]] = [:]
        /// Set once the server has stopped (or never started): waiters get port 0 instead of waiting forever.
        var stopped = false
        /// Extraction tokens whose first download was cut (``FaultConfiguration/extractInterruptAfterBytes``).
        var interruptedExtracts: Set<String> = []
    }

    /// Creates a simulator; when the configuration names a state file that exists, the state is restored from it.
    /// - Throws: ``SimulatorError`` when the state file or storage directory cannot be used.
    public init(configuration: SimulatorConfiguration, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }) throws {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "region.name"] = "\(configuration.regionName)"
        self.logger = logger
        self.clock = clock
        if let dir = configuration.storageDirectory {
            storageDirectory = URL(fileURLWithPath: dir)
        } else {
            storageDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("mclouds-simulator-\(UUID().uuidString.lowercased())")
        }
        do {
            try FileManager.default.createDirectory(at: storageDirectory, withIntermediateDirectories: true)
        } catch {
            throw SimulatorError.storageUnavailable(path: storageDirectory.path, reason: "\(error)")
        }
        var world: World
        if let stateFile = configuration.stateFile, FileManager.default.fileExists(atPath: stateFile) {
            do {
                world = try JSONDecoder().decode(World.self, from: Data(contentsOf: URL(fileURLWithPath: stateFile)))
                world.configuration = configuration
            } catch {
                throw SimulatorError.badStateFile(path: stateFile, reason: "\(error)")
            }
        } else {
            world = World(configuration: configuration, now: clock())
        }
        // Downloads that were running when the state was saved start again.
        var resumed: [DownloadRequest] = []
        for id in world.templateOrder {
            guard let record = world.templates[id], !record.removed, record.stores.values.contains(where: { $0.state == .inProgress }),
                record.template.templatetype == "USER", let url = record.template.url, record.template.sourcetemplateid == nil
            else { continue }
            resumed.append(DownloadRequest(templateID: id, url: url, checksum: record.registeredChecksum, format: record.template.format ?? "QCOW2"))
        }
        world.downloadQueue = []
        store = WorldStore(world)
        let worldStore = store
        guestPorts = GuestPorts(logger: logger) { endpoint, source in
            worldStore.withLock { $0.guestAnswer(endpoint, source: source) }
        }
        (_downloadStream, downloadRequests) = AsyncStream.makeStream(of: DownloadRequest.self)
        for request in resumed { downloadRequests.yield(request) }
        runtime.withLock { $0.faults = configuration.faults }
    }

    // MARK: Public state

    /// The admin account's API key pair.
    public var adminKeys: UserKeys {
        store.withLock { world in
            let user = world.users[world.adminUserID]
            return UserKeys(apikey: user?.user.apikey ?? "", secretkey: user?.secretKey ?? "")
        }
    }

    /// The admin account's id.
    public var adminAccountID: String? { store.withLock { world in world.users[world.adminUserID]?.user.accountid } }

    /// The bound port, once the server runs (`nil` before).
    public var port: Int? { runtime.withLock { $0.port } }

    /// `http://host:port` of the running simulator.
    public var baseURL: String { "http://\(configuration.host):\(port ?? configuration.port)" }

    /// The API endpoint, `http://host:port/client/api`.
    public var endpoint: String { baseURL + "/client/api" }

    /// Waits until the server listens and returns its port.
    public func waitUntilRunning() async -> Int {
        await withCheckedContinuation { continuation in
            let port: Int? = runtime.withLock { state in
                if let port = state.port { return port }
                if state.stopped { return 0 }
                state.waiters.append(continuation)
                return nil
            }
            if let port { continuation.resume(returning: port) }
        }
    }

    /// The faults in force now.
    public var currentFaults: FaultConfiguration { runtime.withLock { $0.faults } }

    /// Changes the injected faults at once (outage, latency, error rates, download behaviour).
    public func setFaults(_ faults: FaultConfiguration) {
        runtime.withLock { $0.faults = faults }
        logger.info(
            "Faults changed",
            metadata: ["faults.outage": .stringConvertible(faults.outage), "faults.latency.ms": .stringConvertible(faults.latencyMilliseconds)])
    }

    func markDirty() { runtime.withLock { $0.dirty = true } }

    /// How many API requests named `command` arrived (answered or not), for tests of retry behaviour.
    public func requestCount(for command: String) -> Int { runtime.withLock { $0.requestCounts[command] ?? 0 } }

    /// When the last 1,000 requests named `command` arrived, oldest first: the request log tests read periods from.
    public func requestTimes(for command: String) -> [ContinuousClock.Instant] { runtime.withLock { $0.requestTimes[command] ?? [] } }

    func countRequest(_ command: String) {
        let now = ContinuousClock.now
        runtime.withLock {
            $0.requestCounts[command, default: 0] += 1
            $0.requestTimes[command, default: []].append(now)
            if $0.requestTimes[command]!.count > 1_000 { $0.requestTimes[command]!.removeFirst() }
        }
    }

    // MARK: Running

    /// Serves the API until cancelled or gracefully shut down, then saves the state file if one is configured.
    public func run() async throws {
        let router = Router(context: SimulatorRequestContext.self)
        router.get("/client/api") { request, context in try await self.respond(request, context) }
        router.post("/client/api") { request, context in try await self.respond(request, context) }
        router.get("/userdata/{file}") { request, context in try await self.serveExtract(request, context) }
        addConsolePage(to: router)
        let app = Application(
            router: router, server: .http1WebSocketUpgrade(webSocketRouter: consoleWebSocketRouter()),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in self.didStart(port: channel.localAddress?.port ?? 0) },
            logger: logger)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                await reconcileGuestPorts()
                group.addTask { await self.runDownloads() }
                group.addTask { try await self.runStateSaver() }
                group.addTask { try await self.runGuests() }
                defer { group.cancelAll() }
                try await app.run()
            }
        } catch {
            // Nobody may wait forever for a server that could not start (port taken, say).
            markStopped()
            await guestPorts.closeAll()
            downloadRequests.finish()
            removeTemporaryStorage()
            throw error
        }
        markStopped()
        await guestPorts.closeAll()
        downloadRequests.finish()
        saveState()
        removeTemporaryStorage()
    }

    /// A simulator without a storage directory of its own keeps its secondary storage in a temporary directory,
    /// removed when it stops (or, if it never ran, when it goes away), so tests and demos leave nothing behind.
    private func removeTemporaryStorage() {
        guard configuration.storageDirectory == nil else { return }
        try? FileManager.default.removeItem(at: storageDirectory)
    }

    deinit { removeTemporaryStorage() }

    /// Marks the server stopped and lets everyone waiting for it go (with port 0).
    private func markStopped() {
        resumeWaiters { $0.stopped = true }
    }

    private func didStart(port: Int) {
        resumeWaiters { $0.port = port }
        store.withLock { world in
            world.baseURL = "http://\(configuration.host):\(port)"
            // The installation's own row starts with the schema's placeholder endpoint; give it the real one.
            if let i = world.regions.firstIndex(where: { $0.id == configuration.regionID && $0.endpoint == World.placeholderEndpoint }) {
                world.regions[i].endpoint = "http://\(configuration.host):\(port)/client"
            }
        }
        logger.info("CloudStack simulator listening", metadata: ["endpoint": "http://\(configuration.host):\(port)/client/api"])
    }

    /// Applies `change` to the runtime state and resumes every `waitUntilRunning` caller with the port (0 if none).
    private func resumeWaiters(_ change: (inout Runtime) -> Void) {
        let (waiters, port) = runtime.withLock { state -> ([CheckedContinuation<Int, Never>], Int) in
            change(&state)
            defer { state.waiters = [] }
            return (state.waiters, state.port ?? 0)
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    private func respond(_ request: Request, _ context: SimulatorRequestContext) async throws -> Response {
        var parameters: [String: String] = [:]
        if let query = request.uri.query { FormParser.parse(Substring(query), into: &parameters) }
        if request.method == .post {
            let body = try await request.body.collect(upTo: 32 * 1024 * 1024)
            FormParser.parse(Substring(String(buffer: body)), into: &parameters)
        }
        let answer = await process(parameters: parameters, source: context.remoteAddress?.ipAddress, logger: logger)
        var headers: HTTPFields = [.contentType: answer.contentType]
        if let description = answer.description, let name = HTTPField.Name("X-Description") {
            headers[name] = description.filter { !$0.isNewline }
        }
        return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: answer.body)))
    }

    private func serveExtract(_ request: Request, _ context: SimulatorRequestContext) async throws -> Response {
        let file = context.parameters.get("file") ?? ""
        let token = String(file.split(separator: ".").first ?? "")
        let path: String? = store.withLock { world in world.extractions[token].flatMap { world.templates[$0]?.filePath } }
        guard let path, FileManager.default.fileExists(atPath: path) else {
            return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: "No such extracted template\n")))
        }
        let faults = currentFaults
        if faults.extractFails {
            return Response(
                status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "Injected fault: secondary storage unavailable\n")))
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        // Ranges as the secondary storage VM's Apache serves them (`bytes=N-` and `bytes=N-M`), so downloads resume.
        var range = 0..<size
        var status = HTTPResponse.Status.ok
        var headers: HTTPFields = [.contentType: "application/octet-stream", .acceptRanges: "bytes"]
        if let header = request.headers[.range], header.hasPrefix("bytes=") {
            let parts = header.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let start = Int(parts[0]), start < size else {
                return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(size)"])
            }
            let end = Int(parts[1]).map { min($0, size - 1) } ?? size - 1
            guard end >= start else { return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(size)"]) }
            range = start..<(end + 1)
            status = .partialContent
            headers[.contentRange] = "bytes \(start)-\(end)/\(size)"
        }
        headers[.contentLength] = String(range.count)
        let cut = faults.extractInterruptAfterBytes
        if cut > 0, runtime.withLock({ $0.interruptedExtracts.insert(token).inserted }) {
            // The first download of this extraction breaks off after `cut` bytes: the connection closes mid-body.
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path)).subdata(in: range.lowerBound..<min(range.upperBound, range.lowerBound + cut))
            return Response(
                status: status, headers: headers,
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(bytes: bytes))
                    throw CancellationError()
                })
        }
        let body = try await FileIO().loadFile(path: path, range: range.lowerBound...(range.upperBound - 1), context: context)
        return Response(status: status, headers: headers, body: body)
    }

    private func runStateSaver() async throws {
        guard configuration.stateFile != nil else { return }
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(1))
            let dirty = runtime.withLock { state in
                defer { state.dirty = false }
                return state.dirty
            }
            if dirty { saveState() }
        }
    }

    /// Writes the state file (temp file and rename, so a crash never leaves half a file).
    func saveState() {
        guard let stateFile = configuration.stateFile else { return }
        let world = store.withLock { $0 }
        do {
            let data = try JSONEncoder().encode(world)
            try data.write(to: URL(fileURLWithPath: stateFile), options: .atomic)
        } catch {
            logger.error("Could not save the simulator state", metadata: ["file": "\(stateFile)", "error": "\(error)"])
        }
    }

    /// Makes the listeners match the Active port-forwarding rules (after every request: jobs complete lazily).
    func reconcileGuestPorts() async {
        let store = self.store
        await guestPorts.reconcile { store.withLock { $0.guestEndpoints() } }
    }

    /// The public endpoints listening now (`address:port`), for tests and the demo.
    public func listeningGuestPorts() async -> Set<String> { Set(await guestPorts.open.map(\.description)) }

    /// The decoded user data a VM was deployed with, by VM name (its guest "runs" it).
    public func userData(vmName: String) -> String? {
        store.withLock { world in world.vms.values.first { $0.vm.name == vmName }?.userData }
    }

    // MARK: Inspection (tests, demo)

    /// Reads the world under the lock.
    func inspect<T: Sendable>(_ body: (World) -> T) -> T { store.withLock { body($0) } }

    /// Runs a simulator for the duration of `body` and stops it afterwards.
    /// - Parameter clock: the simulator's notion of now (job completion, `expires` checks); inject one to step time in tests.
    public static func withRunning<T: Sendable>(
        _ configuration: SimulatorConfiguration, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() },
        _ body: (Simulator) async throws -> T
    ) async throws -> T {
        let simulator = try Simulator(configuration: configuration, logger: logger, clock: clock)
        return try await ServiceScope.withRunning([simulator], logger: logger, ready: { _ = await simulator.waitUntilRunning() }) {
            try await body(simulator)
        }
    }
}

/// The world behind a lock.
final class WorldStore: Sendable {
    private let mutex: Mutex<World>

    init(_ world: World) { mutex = Mutex(world) }

    func withLock<T>(_ body: (inout World) throws -> T) rethrows -> T {
        try mutex.withLock { try body(&$0) }
    }
}

/// Hummingbird's basic context with the peer's address (the API's source check reads it).
struct SimulatorRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
