import AsyncHTTPClient
import CloudStack
import CloudStackSimulator
import Core
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Server
import ServiceLifecycle
import SyncAgent
import Synchronization
import TemplateRepository
import TestSupport

let testParameters = try! ChunkingParameters(minimum: 2048, average: 8192, maximum: 32768)

var quietLogger: Logger {
    var logger = Logger(label: "test.agent")
    logger.logLevel = .critical
    return logger
}

/// Pseudo-random bytes from /dev/urandom.
func randomImage(_ count: Int) throws -> [UInt8] {
    let handle = FileHandle(forReadingAtPath: "/dev/urandom")!
    defer { try? handle.close() }
    return QCOW2Header.stamped(Array(try handle.read(upToCount: count) ?? Data()))
}

/// A temporary directory removed after `body`.
/// A central server whose repository holds one published template made of `image`.
func withPublishedServer<T: Sendable>(
    image: [UInt8], _ body: (MCloudsServer, Repository, TemplateManifest, URL) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        let repository = try await DataDirectory(directory.appendingPathComponent("central").path).openRepository(
            parameters: testParameters, logger: quietLogger)
        let file = directory.appendingPathComponent("image.qcow2")
        try Data(image).write(to: file)
        let metadata = TemplateMetadata(name: "ubuntu", version: "1", format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS")
        _ = try await repository.publish(imageAt: file.path, metadata: metadata)
        let manifest = try await repository.manifest(name: "ubuntu", version: "1")
        return try await MCloudsServer.withRunning(.init(port: 0, adminTokens: ["admin-token"]), repository: repository, logger: quietLogger) {
            server in
            try await body(server, repository, manifest, directory)
        }
    }
}

/// A chunk mirror that misbehaves on purpose: per digest, a list of behaviours used one request at a time
/// (then it serves correctly), and a count of requests and of `Range` requests.
final class FaultyMirror: Sendable {
    enum Behaviour: Sendable {
        case corrupt
        case truncate
        case oversize
        case fail500
        /// Sends half the bytes, then nothing for a few seconds.
        case stall
        /// Accepts the request and never answers (until ``release()``).
        case noHead
    }

    private struct State {
        var plans: [String: [Behaviour]] = [:]
        var requests = 0
        var rangeRequests = 0
        var released = false
    }

    let chunks: [String: [UInt8]]
    private let state = Mutex(State())

    init(chunks: [String: [UInt8]]) { self.chunks = chunks }

    /// A mirror of every chunk of `manifest`, copied from `repository`.
    convenience init(serving manifest: TemplateManifest, from repository: Repository) throws {
        var chunks: [String: [UInt8]] = [:]
        for chunk in manifest.chunks { chunks[chunk.digest] = try repository.chunks.get(chunk.digest) }
        self.init(chunks: chunks)
    }

    /// Lets every held `noHead` request end (so the server can stop).
    func release() { state.withLock { $0.released = true } }

    func plan(_ digest: String, _ behaviours: [Behaviour]) { state.withLock { $0.plans[digest] = behaviours } }
    var requests: Int { state.withLock { $0.requests } }
    var rangeRequests: Int { state.withLock { $0.rangeRequests } }

    func respond(digest: String, range: String?) async -> Response {
        let behaviour: Behaviour? = state.withLock { state in
            state.requests += 1
            if range != nil { state.rangeRequests += 1 }
            guard var plan = state.plans[digest], !plan.isEmpty else { return nil }
            let next = plan.removeFirst()
            state.plans[digest] = plan
            return next
        }
        guard var bytes = chunks[digest] else { return Response(status: .notFound) }
        var status = HTTPResponse.Status.ok
        var headers: HTTPFields = [:]
        if let range, range.hasPrefix("bytes="), let start = Int(range.dropFirst(6).split(separator: "-").first ?? ""), start < bytes.count {
            headers[.contentRange] = "bytes \(start)-\(bytes.count - 1)/\(bytes.count)"
            bytes = Array(bytes[start...])
            status = .partialContent
        }
        switch behaviour {
        case .corrupt: bytes[0] ^= 0xFF
        case .truncate: bytes = Array(bytes.prefix(bytes.count / 2))
        case .oversize: bytes += [UInt8](repeating: 7, count: 1000)
        case .fail500: return Response(status: .internalServerError)
        case .noHead:
            // Until released, or the request is cancelled (a `try?` sleep in a cancelled task returns at once: no spinning).
            while !state.withLock({ $0.released }), !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
            return Response(status: .serviceUnavailable)
        case .stall:
            headers[.contentLength] = String(bytes.count)
            let half = bytes.count / 2
            return Response(
                status: status, headers: headers,
                body: ResponseBody { [bytes] writer in
                    try await writer.write(ByteBuffer(bytes: bytes[..<half]))
                    try? await Task.sleep(for: .seconds(4))
                    try await writer.write(ByteBuffer(bytes: bytes[half...]))
                    try await writer.finish(nil)
                })
        case nil: break
        }
        headers[.contentLength] = String(bytes.count)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Serves `/api/v1/chunks/{digest}` on a free loopback port for the duration of `body`.
    func withRunning<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        let router = Router()
        router.get("/api/v1/chunks/{digest}") { request, context in
            await self.respond(digest: context.parameters.get("digest") ?? "", range: request.headers[.range])
        }
        return try await withLoopbackApp(router, body)
    }
}

/// Runs `router` on a free loopback port for the duration of `body`, which gets its base URL.
func withLoopbackApp<T: Sendable>(_ router: Router<BasicRequestContext>, _ body: (String) async throws -> T) async throws -> T {
    let port = Mutex<Int?>(nil)
    let ready = AsyncStream<Void>.makeStream()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            port.withLock { $0 = channel.localAddress?.port }
            ready.continuation.yield()
        }, logger: quietLogger)
    return try await ServiceScope.withRunning([app], logger: quietLogger, ready: { for await _ in ready.stream { break } }) {
        try await body("http://127.0.0.1:\(port.withLock { $0 } ?? 0)")
    }
}

/// A proxy in front of a server that notes which chunks were asked for (`/api/v1/chunks/{digest}`), in order.
final class CountingProxy: Sendable {
    let target: String
    private let asked = Mutex<[String]>([])

    init(target: String) { self.target = target }

    /// Chunks asked for so far, a digest per request.
    var chunkRequests: [String] { asked.withLock { $0 } }

    private struct Forward: RouterMiddleware {
        let proxy: CountingProxy
        func handle(_ request: Request, context: BasicRequestContext, next: (Request, BasicRequestContext) async throws -> Response) async throws
            -> Response
        {
            let path = request.uri.description
            if path.hasPrefix("/api/v1/chunks/") { proxy.asked.withLock { $0.append(String(path.dropFirst(15))) } }
            var forwarded = HTTPClientRequest(url: proxy.target + path)
            forwarded.method = .init(rawValue: request.method.rawValue)
            for field in request.headers where field.name.canonicalName != "host" {
                forwarded.headers.add(name: field.name.rawName, value: field.value)
            }
            forwarded.body = .bytes(try await request.body.collect(upTo: 64 << 20))
            let answer = try await HTTPClients.shared.execute(forwarded, timeout: .seconds(60))
            var headers = HTTPFields()
            for header in answer.headers {
                if let name = HTTPField.Name(header.name), name != .transferEncoding, name != .connection { headers[name] = header.value }
            }
            let body = try await answer.body.collect(upTo: 64 << 20)
            return Response(status: .init(code: Int(answer.status.code)), headers: headers, body: .init(byteBuffer: body))
        }
    }

    /// Runs the proxy on a free loopback port for the duration of `body`.
    func withRunning<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        let router = Router()
        router.add(middleware: Forward(proxy: self))
        return try await withLoopbackApp(router, body)
    }
}

/// A site's fetcher: its images under `directory/site/images`, partial chunks under `directory/site/partial`.
func siteFetcher(mirrors: [String], in directory: URL, policy: ChunkFetcher.Policy = ChunkFetcher.Policy()) throws -> ChunkFetcher {
    ChunkFetcher(
        mirrors: mirrors, images: try ImageCache(directory: directory.appendingPathComponent("site/images")),
        partialDirectory: directory.appendingPathComponent("site/partial"), policy: policy, logger: quietLogger)
}

/// An `agent.yaml` in `directory` for syncs from `central` into `simulator`'s cloud, two downloads at once at
/// 40 Mbit/s (slow enough for a test to act during a sync), the agent's files in `directory/agent`.
/// - Returns: the configuration file and the agent's directory.
func writeSlowAgentConfiguration(central: String, trustedKey: String, simulator: Simulator, in directory: URL) throws -> (file: URL, agent: URL) {
    let agentDirectory = directory.appendingPathComponent("agent")
    let yaml = """
        central: {url: "\(central)", trustedKeys: ["\(trustedKey)"]}
        cloudstack: {endpoint: "\(simulator.endpoint)", apiKey: "\(simulator.adminKeys.apikey!)"}
        directory: \(agentDirectory.path)
        parallelDownloads: 2
        bandwidthLimitMbit: 40
        """
    let file = directory.appendingPathComponent("agent.yaml")
    try Data(yaml.utf8).write(to: file)
    return (file, agentDirectory)
}
