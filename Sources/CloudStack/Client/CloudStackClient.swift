import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix

/// A client of one CloudStack management server's signed HTTP API.
///
/// Every request is signed with the region's API key and secret (``RequestSigner``), sent with
/// `signatureVersion=3` and an `expires` time, and checked for CloudStack's error envelope.
/// Reads are retried with backoff; writes only when the request never reached the server.
///
/// ```swift
/// let client = CloudStackClient(configuration: .init(endpoint: "http://127.0.0.1:8080/client/api",
///                                                    apiKey: key, secretKey: secret, region: "MECA-TUS"))
/// let zones = try await client.listZones(logger: logger)
/// ```
public struct CloudStackClient: Sendable {
    /// How to reach and sign for one management server.
    public struct Configuration: Sendable {
        /// The API URL, ending in `/client/api`.
        public var endpoint: String
        /// The caller's API key.
        public var apiKey: String
        /// The caller's secret key.
        public var secretKey: String
        /// The region name used in errors and logs.
        public var region: String
        /// Per-request timeout.
        public var requestTimeout: Duration = .seconds(60)
        /// How far ahead `expires` is set; `nil` sends no `signatureVersion`/`expires`.
        public var signatureExpiry: Duration? = .seconds(600)
        /// Page size for list calls (CloudStack's `default.page.size` is 500).
        public var pageSize: Int = 500
        /// Attempts for a retryable request, the first included.
        public var maxAttempts: Int = 4
        /// First retry delay; doubles each attempt, with jitter.
        public var retryBaseDelay: Duration = .milliseconds(250)
        /// First async-job poll interval; grows by half each poll up to `jobPollMaximum`.
        public var jobPollInitial: Duration = .milliseconds(200)
        /// Longest async-job poll interval.
        public var jobPollMaximum: Duration = .seconds(5)
        /// How long to wait for an async job before giving up.
        public var jobTimeout: Duration = .seconds(1800)
        /// Send requests with parameters in a form-encoded POST body when the query would exceed this many bytes.
        public var postThreshold: Int = 4096

        /// A configuration with the defaults above.
        public init(endpoint: String, apiKey: String, secretKey: String, region: String = "default") {
            self.endpoint = endpoint
            self.apiKey = apiKey
            self.secretKey = secretKey
            self.region = region
        }
    }

    /// The HTTP method for a call.
    public enum Method: Sendable {
        /// Decide by size: GET, or POST past ``Configuration/postThreshold`` or when `userdata`/`password` is sent.
        case automatic
        case get
        case post
    }

    public let configuration: Configuration
    let httpClient: HTTPClient

    /// The HTTP client used when none is given: connection failures surface at once (this client
    /// retries by its own policy) and connecting gives up after 10 seconds.
    public static var sharedHTTPClient: HTTPClient { HTTPClients.shared }

    /// Creates a client. `httpClient` is shared and must outlive the client.
    public init(configuration: Configuration, httpClient: HTTPClient = CloudStackClient.sharedHTTPClient) {
        self.configuration = configuration
        self.httpClient = httpClient
    }

    // MARK: Raw calls

    /// Calls any command and returns the inner object of `{"<command>response": …}` as JSON.
    /// - Throws: ``CloudStackError`` for API errors (with CloudStack's codes), transport failures and timeouts.
    public func call(_ command: String, _ parameters: [String: String] = [:], method: Method = .automatic, logger: Logger) async throws
        -> JSONValue
    {
        let body = try await send(command, parameters, method: method, logger: logger)
        return try decode(Envelope<JSONValue>.self, from: body, command: command).inner
    }

    /// Calls a command and decodes the inner object as `T`.
    public func call<T: Decodable>(
        _ command: String, _ parameters: [String: String] = [:], as type: T.Type, method: Method = .automatic, logger: Logger
    )
        async throws -> T
    {
        let body = try await send(command, parameters, method: method, logger: logger)
        return try decode(Envelope<T>.self, from: body, command: command).inner
    }

    /// Calls a command answering one object under its object name (`{"account":{…}}`) and returns it.
    public func callObject<T: Decodable>(_ command: String, _ parameters: [String: String] = [:], as type: T.Type, logger: Logger)
        async throws -> T
    {
        try await call(command, parameters, as: SingleObject<T>.self, logger: logger).item
    }

    /// Fetches every page of a list command and returns all items.
    ///
    /// Pages of ``Configuration/pageSize`` are requested until the server's `count` is reached or a
    /// short page arrives, so lists of thousands of items come back whole.
    public func list<T: Decodable>(_ command: String, _ parameters: [String: String] = [:], as type: T.Type, logger: Logger) async throws -> [T] {
        if parameters["page"] != nil || parameters["pagesize"] != nil {
            return try await call(command, parameters, as: ListPage<T>.self, logger: logger).items
        }
        var all: [T] = []
        var page = 1
        while true {
            var p = parameters
            p["page"] = String(page)
            p["pagesize"] = String(configuration.pageSize)
            let result = try await call(command, p, as: ListPage<T>.self, logger: logger)
            all.append(contentsOf: result.items)
            if result.items.count < configuration.pageSize || all.count >= result.count || result.items.isEmpty { break }
            page += 1
        }
        return all
    }

    // MARK: Async jobs

    /// Submits an async command and returns its `jobid` (and `id` for create-style commands) without waiting.
    public func submit(_ command: String, _ parameters: [String: String] = [:], logger: Logger) async throws -> AsyncSubmission {
        try await call(command, parameters, as: AsyncSubmission.self, logger: logger)
    }

    /// Polls `queryAsyncJobResult` with growing intervals until the job ends or ``Configuration/jobTimeout`` passes.
    /// - Returns: the finished job (`jobstatus` 1).
    /// - Throws: ``CloudStackError`` `jobFailed` with the job's error code and text, or `jobTimedOut`.
    public func waitForJob(_ jobID: String, command: String, logger: Logger) async throws -> AsyncJob {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: configuration.jobTimeout)
        var interval = configuration.jobPollInitial
        while true {
            let job = try await call("queryAsyncJobResult", ["jobid": jobID], as: AsyncJob.self, logger: logger)
            switch job.jobstatus ?? 0 {
            case 0:
                break
            case 1:
                return job
            default:
                throw CloudStackError.jobFailed(
                    command: command, region: configuration.region,
                    errorCode: job.jobresult?["errorcode"]?.intValue.map(Int.init),
                    csErrorCode: job.jobresult?["cserrorcode"]?.intValue.map(Int.init),
                    errorText: job.jobresult?["errortext"]?.stringValue ?? "job \(jobID) failed with result code \(job.jobresultcode ?? 0)")
            }
            if clock.now.advanced(by: interval) > deadline {
                throw CloudStackError.jobTimedOut(
                    command: command, region: configuration.region, jobID: jobID,
                    seconds: Double(configuration.jobTimeout.components.seconds))
            }
            try await Task.sleep(for: interval)
            interval = min(interval * 1.5, configuration.jobPollMaximum)
        }
    }

    /// Runs an async command to completion and returns the finished job.
    public func run(_ command: String, _ parameters: [String: String] = [:], logger: Logger) async throws -> AsyncJob {
        let submission = try await submit(command, parameters, logger: logger)
        var logger = logger
        logger[metadataKey: "cloudstack.job"] = "\(submission.jobid)"
        return try await waitForJob(submission.jobid, command: command, logger: logger)
    }

    /// Runs an async command and decodes the object in its `jobresult` (`{"virtualmachine":{…}}`).
    public func run<T: Decodable>(_ command: String, _ parameters: [String: String] = [:], resultAs type: T.Type, logger: Logger)
        async throws -> T
    {
        let job = try await run(command, parameters, logger: logger)
        guard let result = job.jobresult else {
            throw CloudStackError.malformedResponse(
                command: command, region: configuration.region, httpStatus: 200, detail: "finished job has no jobresult")
        }
        do {
            return try JSONDecoder().decode(SingleObject<T>.self, from: Data(result.serialized().utf8)).item
        } catch {
            throw CloudStackError.malformedResponse(command: command, region: configuration.region, httpStatus: 200, detail: "jobresult: \(error)")
        }
    }

    // MARK: Transport

    /// Commands that only read (`list*`, `get*`, `queryAsyncJobResult`): safe to retry, and they change no state.
    public static func isRead(_ command: String) -> Bool {
        let lower = command.lowercased()
        return lower.hasPrefix("list") || lower.hasPrefix("get") || lower == "queryasyncjobresult"
    }

    /// The signed parameters for `command`, `signature` included.
    public func signedParameters(_ command: String, _ parameters: [String: String], now: Date = Date()) -> [String: String] {
        var p = parameters
        p["command"] = command
        p["response"] = "json"
        p["apiKey"] = configuration.apiKey
        if let expiry = configuration.signatureExpiry {
            p["signatureVersion"] = "3"
            p["expires"] = CloudStackDateFormat.string(from: now.addingTimeInterval(Double(expiry.components.seconds)))
        }
        p["signature"] = RequestSigner.signature(for: p, secretKey: configuration.secretKey)
        return p
    }

    /// A complete signed GET URL for `command`, for handing to other tools (curl, a browser).
    public func signedURL(_ command: String, _ parameters: [String: String] = [:], now: Date = Date()) -> String {
        configuration.endpoint + (configuration.endpoint.contains("?") ? "&" : "?") + Self.formEncode(signedParameters(command, parameters, now: now))
    }

    /// `name=value&…` with values encoded the way the server decodes them.
    static func formEncode(_ parameters: [String: String]) -> String {
        parameters.keys.sorted().map { "\(RequestSigner.javaURLEncode($0))=\(RequestSigner.javaURLEncode(parameters[$0]!))" }
            .joined(separator: "&")
    }

    func send(_ command: String, _ parameters: [String: String], method: Method, logger: Logger) async throws -> ByteBuffer {
        var logger = logger
        logger[metadataKey: "cloudstack.command"] = "\(command)"
        logger[metadataKey: "region.name"] = "\(configuration.region)"
        let retryAny = Self.isRead(command)
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await sendOnce(command, parameters, method: method, logger: logger)
            } catch let error as CloudStackError {
                let retryable = error.requestNeverReachedServer || (retryAny && (error.isTransportFailure || error.isServerUnavailable))
                guard retryable, attempt < configuration.maxAttempts else { throw error }
                let base = configuration.retryBaseDelay * (1 << (attempt - 1))
                let delay = base + base * Double.random(in: 0..<0.5)
                logger.warning(
                    "CloudStack call failed, retrying",
                    metadata: ["attempt": .stringConvertible(attempt), "error": "\(error)", "retry.delay": .stringConvertible(delay)])
                try await Task.sleep(for: delay)
            }
        }
    }

    private func sendOnce(_ command: String, _ parameters: [String: String], method: Method, logger: Logger) async throws -> ByteBuffer {
        let signed = signedParameters(command, parameters)
        let form = Self.formEncode(signed)
        let usePost: Bool
        switch method {
        case .get: usePost = false
        case .post: usePost = true
        case .automatic: usePost = form.utf8.count > configuration.postThreshold || parameters["userdata"] != nil || parameters["password"] != nil
        }
        var request: HTTPClientRequest
        if usePost {
            request = HTTPClientRequest(url: configuration.endpoint)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        } else {
            request = HTTPClientRequest(url: configuration.endpoint + (configuration.endpoint.contains("?") ? "&" : "?") + form)
            request.method = .GET
        }
        request.headers.add(name: "Accept", value: "application/json")
        let started = ContinuousClock.now
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: .init(configuration.requestTimeout))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw CloudStackError.timeout(
                command: command, region: configuration.region, seconds: Double(configuration.requestTimeout.components.seconds))
        } catch {
            throw CloudStackError.transport(
                command: command, region: configuration.region, underlying: NetworkProblem.describe(error),
                reachedServer: !Self.neverReachedServer(error))
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: 512 * 1024 * 1024)
        } catch {
            throw CloudStackError.transport(
                command: command, region: configuration.region, underlying: NetworkProblem.describe(error), reachedServer: true)
        }
        let status = Int(response.status.code)
        logger.debug(
            "CloudStack call",
            metadata: [
                "http.status": .stringConvertible(status), "http.method": "\(usePost ? "POST" : "GET")",
                "duration": .stringConvertible(ContinuousClock.now - started),
            ])
        // CloudStack answers errors with HTTP status = errorcode, so only non-200 bodies need the error probe.
        if status != 200, let probe = try? JSONDecoder().decode(Envelope<ErrorProbe>.self, from: body), let code = probe.inner.errorcode {
            throw CloudStackError.api(
                command: command, region: configuration.region, httpStatus: status, errorCode: code, csErrorCode: probe.inner.cserrorcode,
                errorText: probe.inner.errortext ?? "")
        }
        guard status == 200 else {
            throw CloudStackError.malformedResponse(
                command: command, region: configuration.region, httpStatus: status, detail: String(buffer: body).prefix(300).description)
        }
        return body
    }

    func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer, command: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            throw CloudStackError.malformedResponse(
                command: command, region: configuration.region, httpStatus: 200, detail: "\(error) in \(String(buffer: body).prefix(200))")
        }
    }

    static func neverReachedServer(_ error: any Error) -> Bool {
        if error is NIOConnectionError { return true }
        if let io = error as? IOError, io.errnoCode == ECONNREFUSED { return true }
        if let http = error as? HTTPClientError, http == .connectTimeout { return true }
        if let channel = error as? ChannelError, case .connectTimeout = channel { return true }
        return false
    }
}
