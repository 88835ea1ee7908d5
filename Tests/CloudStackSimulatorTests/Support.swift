import AsyncHTTPClient
import CloudStack
import Core
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization
import Testing

@testable import CloudStackSimulator

let logger: Logger = {
    var logger = Logger(label: "simulator-test")
    logger.logLevel = .warning
    return logger
}()

func config(_ name: String = "Sim-Test", jobMilliseconds: Int = 30) -> SimulatorConfiguration {
    var c = SimulatorConfiguration.default(regionName: name)
    c.jobDurationMilliseconds = jobMilliseconds
    c.allocationAlgorithm = .firstfit
    return c
}

func makeClient(_ sim: Simulator) -> CloudStackClient {
    let keys = sim.adminKeys
    var c = CloudStackClient.Configuration(
        endpoint: sim.endpoint, apiKey: keys.apikey!, secretKey: keys.secretkey!, region: sim.configuration.regionName)
    c.jobPollInitial = .milliseconds(20)
    c.jobPollMaximum = .milliseconds(100)
    c.maxAttempts = 1
    return CloudStackClient(configuration: c)
}

/// A clock the test steps by hand, so job timing never depends on machine load.
final class ManualClock: Sendable {
    private let state = Mutex(Date())
    var now: Date { state.withLock { $0 } }
    func advance(by seconds: TimeInterval) { state.withLock { $0 += seconds } }
}

/// A deploy request for the first zone, the featured template and the first offering.
func defaultDeployRequest(_ cs: CloudStackClient) async throws -> DeployVirtualMachineRequest {
    let zone = try await cs.listZones(logger: logger)[0]
    let template = try await cs.listTemplates(filter: .featured, logger: logger)[0]
    let offering = try await cs.listServiceOfferings(logger: logger)[0]
    return DeployVirtualMachineRequest(zoneID: zone.id!, templateID: template.id!, serviceOfferingID: offering.id!)
}

/// A raw answer: status, headers and body text, for checking exact shapes.
struct RawAnswer {
    let status: Int
    let contentType: String?
    let description: String?
    let body: String

    var json: JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)) }
}

/// Sends a request signed with `secret` (the admin's by default) and returns the raw answer.
func rawCall(
    _ sim: Simulator, _ params: [String: String], secret: String? = nil, apiKey: String? = nil, post: Bool = false, sign: Bool = true,
    mutate: (inout [String: String]) -> Void = { _ in }
) async throws -> RawAnswer {
    var p = params
    if p["response"] == nil, p["noresponse"] == nil { p["response"] = "json" }
    p["noresponse"] = nil
    p["apiKey"] = apiKey ?? sim.adminKeys.apikey!
    mutate(&p)
    if sign { p["signature"] = RequestSigner.signature(for: p, secretKey: secret ?? sim.adminKeys.secretkey!) }
    let form = p.keys.sorted().map { "\(RequestSigner.javaURLEncode($0))=\(RequestSigner.javaURLEncode(p[$0]!))" }.joined(separator: "&")
    var request = HTTPClientRequest(url: post ? sim.endpoint : sim.endpoint + "?" + form)
    if post {
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: form))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let body = try await response.body.collect(upTo: 64 << 20)
    return RawAnswer(
        status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type"),
        description: response.headers.first(name: "X-Description"), body: String(buffer: body))
}

/// Polls `listTemplates` until the template is ready or failed (or 30 s pass).
func waitForTemplate(_ cs: CloudStackClient, id: String) async throws -> Template {
    let deadline = ContinuousClock.now + .seconds(30)
    while true {
        let t = try #require(try await cs.listTemplates(filter: .all, id: id, logger: logger).first)
        if t.isready == true || t.downloaddetails?.first?.downloadState == "DOWNLOAD_ERROR" || ContinuousClock.now > deadline { return t }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// A small HTTP server on loopback serving byte blobs at `/files/NAME`, counting requests.
final class FileServer: Sendable {
    let files: [String: [UInt8]]
    private let portBox = PortBox()

    init(files: [String: [UInt8]]) { self.files = files }

    func url(_ name: String) -> String { "http://127.0.0.1:\(portBox.port)/files/\(name)" }

    static func withRunning<T: Sendable>(_ files: [String: [UInt8]], _ body: (FileServer) async throws -> T) async throws -> T {
        let server = FileServer(files: files)
        let router = Router()
        router.get("/files/{name}") { _, context -> Response in
            let name = context.parameters.get("name") ?? ""
            guard let bytes = server.files[name] else { return Response(status: .notFound) }
            return Response(status: .ok, headers: [.contentLength: String(bytes.count)], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in server.portBox.set(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(services: [app], logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await server.portBox.wait()
            let result: Result<T, any Error>
            do { result = .success(try await body(server)) } catch { result = .failure(error) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }
}

final class PortBox: Sendable {
    private let state = Mutex<(Int, [CheckedContinuation<Void, Never>])>((0, []))
    var port: Int { state.withLock { $0.0 } }

    func set(_ port: Int) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.0 = port
            defer { s.1 = [] }
            return s.1
        }
        for w in waiters { w.resume() }
    }

    func wait() async {
        await withCheckedContinuation { c in
            let ready = state.withLock { s -> Bool in
                if s.0 != 0 { return true }
                s.1.append(c)
                return false
            }
            if ready { c.resume() }
        }
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }

/// Deterministic pseudo-random bytes.
func sampleImage(size: Int, seed: UInt64 = 42) -> [UInt8] {
    var state = seed
    var out = [UInt8](repeating: 0, count: size)
    for i in 0..<size {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        out[i] = UInt8(truncatingIfNeeded: state >> 33)
    }
    return out
}
