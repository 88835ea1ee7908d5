import AsyncHTTPClient
import Core
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// A client of an mClouds server's template repository API.
///
/// ```swift
/// let client = RepositoryClient(baseURL: "http://127.0.0.1:8080", token: token)
/// let missing = try await client.missing(digests)
/// ```
public struct RepositoryClient: Sendable {
    public let baseURL: String
    public let token: String?
    public var timeout: TimeAmount
    /// The largest answer read (catalogs, manifests and chunks are far smaller); a larger one is refused.
    public var answerLimit = 256 << 20
    let httpClient: HTTPClient

    public init(baseURL: String, token: String? = nil, timeout: TimeAmount = .seconds(120), httpClient: HTTPClient = HTTPClients.shared) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.timeout = timeout
        self.httpClient = httpClient
    }

    /// The repository's chunking parameters and publisher key.
    public func info() async throws -> RepositoryInfo { try await json(.GET, "/api/v1/repository") }

    /// The signed catalog as served.
    public func signedCatalog() async throws -> [UInt8] { try await send(.GET, "/api/v1/catalog").body }

    /// A version's signed manifest as served.
    public func signedManifest(name: String, version: String) async throws -> [UInt8] {
        try await send(.GET, "/api/v1/templates/\(name)/versions/\(version)/manifest").body
    }

    public func templates() async throws -> TemplateList { try await json(.GET, "/api/v1/templates") }

    public func template(_ name: String) async throws -> TemplateSummary { try await json(.GET, "/api/v1/templates/\(name)") }

    /// A chunk's bytes (or `range` of them).
    public func chunk(_ digest: String, range: Range<Int>? = nil) async throws -> [UInt8] {
        var headers: [(String, String)] = []
        if let range { headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")) }
        return try await send(.GET, "/api/v1/chunks/\(digest)", headers: headers).body
    }

    /// A whole chunk, checked against its digest: bytes that do not hash to it are refused.
    /// - Throws: ``TemplateRepositoryError`` `digestMismatch` for altered bytes, ``RepositoryClientError`` otherwise.
    public func verifiedChunk(_ digest: String) async throws -> [UInt8] {
        try validateDigest(digest)
        let bytes = try await chunk(digest)
        let actual = SHA256.hash(data: bytes).hexString
        guard actual == digest else { throw TemplateRepositoryError.digestMismatch(expected: digest, actual: actual) }
        return bytes
    }

    /// Sends a site's pass report.
    public func report(site: String, _ states: [SiteTemplateState]) async throws {
        let _: RolloutStatus = try await json(.POST, "/api/v1/sites/\(site)/report", body: RolloutStatus(states: states))
    }

    /// Every site's latest state per template version.
    public func rollout() async throws -> RolloutStatus { try await json(.GET, "/api/v1/rollout") }

    public func missing(_ digests: [String]) async throws -> [String] {
        let answer: MissingChunksResponse = try await json(.POST, "/api/v1/uploads/missing", body: MissingChunksRequest(digests: digests))
        return answer.missing
    }

    /// Uploads one chunk. Returns true when the server stored it (false: it had it already).
    @discardableResult
    public func upload(_ digest: String, bytes: [UInt8]) async throws -> Bool {
        try await send(.PUT, "/api/v1/chunks/\(digest)", body: bytes, contentType: "application/octet-stream").status == 201
    }

    public func commit(_ request: CommitRequest) async throws -> PublishReport {
        try await json(.POST, "/api/v1/templates/\(request.metadata.name)/versions", body: request)
    }

    public func setState(_ state: VersionState, name: String, version: String) async throws -> StateChangeResponse {
        try await json(.POST, "/api/v1/templates/\(name)/versions/\(version)/state", body: StateChangeRequest(state: state))
    }

    // MARK: Transport

    /// Any JSON call of the mClouds server's API (the other parts of it: regions, the dashboard), with the
    /// same token and error handling.
    public func call<T: Decodable>(_ method: HTTPMethod, _ path: String, as type: T.Type = T.self) async throws -> T {
        try await json(method, path)
    }

    /// A JSON call with a JSON body.
    public func call<T: Decodable>(_ method: HTTPMethod, _ path: String, body: some Encodable, as type: T.Type = T.self) async throws -> T {
        try await json(method, path, body: body)
    }

    /// A call with a body of another type (`text/csv`), answered in JSON.
    public func call<T: Decodable>(_ method: HTTPMethod, _ path: String, body: [UInt8], contentType: String, as type: T.Type = T.self) async throws
        -> T
    {
        try decode(try await send(method, path, body: body, contentType: contentType).body, path: path)
    }

    /// A call whose answer has no body to read (a `204`).
    public func perform(_ method: HTTPMethod, _ path: String) async throws {
        _ = try await send(method, path)
    }

    /// A call with a JSON body whose answer has no body to read (a `204`).
    public func perform(_ method: HTTPMethod, _ path: String, body: some Encodable) async throws {
        _ = try await send(method, path, body: try OrderedJSONEncoder().encode(body).serializedBytes(), contentType: "application/json")
    }

    private func json<T: Decodable>(_ method: HTTPMethod, _ path: String) async throws -> T {
        try decode(try await send(method, path).body, path: path)
    }

    private func json<T: Decodable>(_ method: HTTPMethod, _ path: String, body: some Encodable) async throws -> T {
        let bytes = try OrderedJSONEncoder().encode(body).serializedBytes()
        return try decode(try await send(method, path, body: bytes, contentType: "application/json").body, path: path)
    }

    private func decode<T: Decodable>(_ bytes: [UInt8], path: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw RepositoryClientError(url: baseURL + path, status: nil, message: "the answer is not the expected JSON (\(error))")
        }
    }

    func send(
        _ method: HTTPMethod, _ path: String, headers extra: [(String, String)] = [], body: [UInt8]? = nil, contentType: String? = nil
    ) async throws -> (status: Int, body: [UInt8]) {
        let url = baseURL + path
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await httpClient.execute(request, timeout: timeout)
        } catch {
            throw RepositoryClientError(
                url: url, status: nil, message: "the server cannot be reached (\(NetworkProblem.describe(error))); check the URL and that it runs")
        }
        do {
            bytes = try await response.body.collect(upTo: answerLimit)
        } catch is NIOTooManyBytesError {
            var error = RepositoryClientError(
                url: url, status: Int(response.status.code),
                message:
                    "the answer is larger than the \(answerLimit >> 20) MiB a repository answer may be; the server or mirror is broken or hostile, refusing it"
            )
            error.tooLarge = true
            throw error
        } catch {
            throw RepositoryClientError(
                url: url, status: Int(response.status.code),
                message: "the answer broke off (\(NetworkProblem.describe(error))); try again, and check the server's health if it repeats")
        }
        let data = Array(bytes.readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw RepositoryClientError(response: Int(response.status.code), body: data, url: url)
        }
        return (Int(response.status.code), data)
    }
}

/// A failed repository call: the URL, the HTTP status when there was an answer, and the server's message.
public struct RepositoryClientError: Error, Sendable, CustomStringConvertible {
    public let url: String
    public let status: Int?
    public let message: String
    /// Chunks the server still lacks (a commit answered 409).
    public var missing: [String] = []
    /// The answer's body when the server refused (its JSON has more than the message: a refusal's reasons).
    public internal(set) var answer: [UInt8] = []
    /// The answer was over the client's ``RepositoryClient/answerLimit`` and refused (the server was reached).
    public internal(set) var tooLarge = false

    init(url: String, status: Int?, message: String) {
        self.url = url
        self.status = status
        self.message = message
    }

    init(response status: Int, body: [UInt8], url: String) {
        struct Body: Decodable {
            struct Detail: Decodable {
                var message: String
                var missing: [String]?
            }
            var error: Detail
        }
        self.url = url
        self.status = status
        self.answer = body
        if let decoded = try? JSONDecoder().decode(Body.self, from: Data(body)) {
            message = decoded.error.message
            missing = decoded.error.missing ?? []
        } else {
            message = "HTTP \(status): \(String(decoding: body.prefix(200), as: UTF8.self))"
        }
    }

    public var description: String {
        if let status { return "\(url) answered \(status): \(message)" }
        return "\(url): \(message)"
    }
}
