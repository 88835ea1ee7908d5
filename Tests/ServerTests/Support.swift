import Access
import AsyncHTTPClient
import Builder
import CloudStack
import CloudStackSimulator
import Core
import Dashboard
import Federation
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Server
import ServiceLifecycle
import Storage
import TemplateRepository
import TestSupport
import Testing

let testParameters = try! ChunkingParameters(minimum: 2048, average: 8192, maximum: 32768)

/// Deterministic pseudo-random bytes.
/// Seeded bytes that start with a QCOW2 header (the repository checks what it publishes against its format).
func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return QCOW2Header.stamped(
        (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        })
}

/// A server on a free loopback port over a repository in a temporary directory, for the duration of `body`.
/// With `backend` `.postgres`, the catalog, registry and dashboard are in a new database of the test cluster.
func withServer<T: Sendable>(
    tokens: [String] = ["admin-token"], idleTimeout: Duration? = .seconds(60), on backend: TestDatabase = .sqlite,
    users: UserStore.Settings = fastUsers, tls: TLSIdentity? = nil, redirectHTTPPort: Int? = nil,
    _ body: (MCloudsServer, Repository, URL) async throws -> T
) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("server-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    var logger = Logger(label: "test.server")
    logger.logLevel = .warning
    let database = backend == .postgres ? PostgresStore.Configuration(url: try await TestDatabase.newPostgresDatabase(), poolSize: 4) : nil
    let data = DataDirectory(directory.path, database: database)
    let repository = try await data.openRepository(parameters: testParameters, logger: logger)
    var collection = DashboardCollector.Configuration()
    collection.regionTimeout = .seconds(10)
    let federation = try await data.openFederation(collector: collection, logger: logger)
    let access = try await data.openAccess(users: users, logger: logger)
    let classroom = try await data.openClassroom(logger: logger)
    let builds = try await data.openBuilds(logger: logger)
    // The build API is answered; builds asked for are recorded, not run (no runner service here).
    let runner = BuildRunner(
        store: builds.store, leases: builds.leases, registry: federation.registry, repository: repository, workDirectory: builds.work,
        callbackURL: { "http://127.0.0.1" }, logger: logger)
    return try await MCloudsServer.withRunning(
        .init(port: 0, adminTokens: tokens, idleTimeout: idleTimeout, tls: tls, redirectHTTPPort: redirectHTTPPort), repository: repository,
        federation: federation, access: access, classroom: classroom.store, builds: runner,
        logger: logger
    ) {
        server in
        try await body(server, repository, directory)
    }
}

/// User settings for tests that are not about bcrypt's cost: the lowest cost, so logins take milliseconds.
let fastUsers: UserStore.Settings = {
    var settings = UserStore.Settings()
    settings.bcryptCost = 4
    return settings
}()

/// A raw HTTP exchange: status, headers and body.
struct Exchange {
    let status: Int
    let headers: HTTPHeaders
    let body: [UInt8]

    var json: JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(body)) }
    var errorMessage: String? { json?["error"]?["message"]?.stringValue }
}

func http(
    _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: [UInt8]? = nil
) async throws -> Exchange {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
    let response = try await testClient.execute(request, timeout: .seconds(30))
    let collected = try await response.body.collect(upTo: 64 << 20)
    return Exchange(status: Int(response.status.code), headers: response.headers, body: Array(collected.readableBytesView))
}

/// The tests' client: like a browser's first step, it shows a redirect instead of following it.
let testClient: HTTPClient = {
    var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
    configuration.timeout.connect = .seconds(10)
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
}()

/// A browser's part of a conversation with the server: it keeps the cookies it is given and sends them back,
/// and posts forms.
struct Browser {
    let base: String
    var cookies: [String: String] = [:]

    init(_ base: String) { self.base = base }

    mutating func send(
        _ method: HTTPMethod, _ path: String, form: [(String, String)]? = nil, json: String? = nil, headers: [(String, String)] = []
    ) async throws -> Exchange {
        var headers = headers
        if !cookies.isEmpty { headers.append(("Cookie", cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))) }
        var body: [UInt8]?
        if let form {
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
            body = Array(form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&").utf8)
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        } else if let json {
            body = Array(json.utf8)
            headers.append(("Content-Type", "application/json"))
        }
        let answer = try await http(method, base + path, headers: headers, body: body)
        for header in answer.headers["Set-Cookie"] {
            let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0])
            if header.contains("Max-Age=0") { cookies[name] = nil } else { cookies[name] = pair.count == 2 ? String(pair[1]) : "" }
        }
        return answer
    }

    /// The value of a hidden `csrf` field in a page.
    static func csrf(in page: Exchange) -> String? {
        let text = String(decoding: page.body, as: UTF8.self)
        guard let range = text.range(of: #"name="csrf" value=""#) else { return nil }
        return String(text[range.upperBound...].prefix { $0 != "\"" })
    }
}

/// Writes `bytes` to a new file in `directory`.
func writeFile(_ bytes: [UInt8], in directory: URL) throws -> String {
    let url = directory.appendingPathComponent("img-\(UUID().uuidString).qcow2")
    try Data(bytes).write(to: url)
    return url.path
}

func sampleMetadata(_ name: String = "ubuntu-22.04", _ version: String = "1.0") -> TemplateMetadata {
    TemplateMetadata(name: name, version: version, format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS", software: ["gcc"])
}

/// A server (as ``withServer``) with one simulated region, MECA-TUS (id 6), registered in its registry.
func withServerAndRegion<T: Sendable>(
    _ body: (MCloudsServer, Repository, URL, Simulator) async throws -> T
) async throws -> T {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return try await Simulator.withRunning(.default(regionName: "MECA-TUS"), logger: logger) { simulator in
        try await withServer { server, repository, directory in
            let federation = try #require(server.federation)
            try await federation.registry.add(
                FederationRegion(id: 6, name: "MECA-TUS", endpoint: simulator.endpoint, apiKey: simulator.adminKeys.apikey!),
                secretKey: simulator.adminKeys.secretkey!)
            return try await body(server, repository, directory, simulator)
        }
    }
}
