import AsyncHTTPClient
import CloudStack
import Core
import Foundation
import Logging
import ServiceLifecycle
import TemplateRepository

/// The site agent built from its configuration: one pass on demand (`runOnce`), or a `Service` that runs
/// passes on its schedule until shut down. After each pass it writes `status.json` in its directory.
public struct Agent: Sendable {
    public let configuration: AgentConfiguration
    public let pass: SyncPass
    let central: RepositoryClient
    let logger: Logger

    /// - Parameter imageURL: the URL CloudStack fetches an image file from (the agent's image server).
    /// - Throws: ``AgentConfigurationError`` for a bad configuration or missing secret.
    public init(configuration: AgentConfiguration, imageURL: @escaping @Sendable (String) -> String, logger: Logger) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let directory = URL(fileURLWithPath: configuration.directory, isDirectory: true)
        let trusted = try configuration.central.trustedKeys.map { key in
            do {
                return try TrustedKey(base64: key)
            } catch {
                throw AgentConfigurationError("central.trustedKeys has \(key), which is not a base64 Ed25519 public key.")
            }
        }
        let verify = configuration.cloudstack.verifyTLS ?? true
        if !verify {
            logger.warning(
                "certificate verification is off for the CloudStack endpoint (cloudstack.verifyTLS: false): anyone on the path can read its keys' requests",
                metadata: ["endpoint": "\(configuration.cloudstack.endpoint)"])
        }
        let cloudStackHTTP: HTTPClient
        let centralHTTP: HTTPClient
        do {
            cloudStackHTTP = try HTTPClients.trusting(caBundle: configuration.cloudstack.caBundle, verify: verify)
            centralHTTP = try HTTPClients.trusting(caBundle: configuration.central.caBundle)
        } catch {
            throw AgentConfigurationError("A CA bundle (central.caBundle or cloudstack.caBundle) cannot be read as PEM certificates: \(error).")
        }
        let client = CloudStackClient(
            configuration: .init(
                endpoint: configuration.cloudstack.endpoint, apiKey: configuration.cloudstack.apiKey, secretKey: try configuration.cloudStackSecret(),
                region: configuration.cloudstack.endpoint), httpClient: cloudStackHTTP)
        central = RepositoryClient(baseURL: configuration.central.url, token: configuration.centralToken(), httpClient: centralHTTP)
        var policy = ChunkFetcher.Policy()
        if let parallel = configuration.parallelDownloads { policy.parallel = max(1, parallel) }
        policy.bandwidthLimit = configuration.bandwidthLimitMbit.map { $0 * 1_000_000 / 8 }
        if let stall = configuration.stallTimeoutSeconds { policy.stallTimeout = .milliseconds(Int64(stall * 1000)) }
        var settings = SyncPass.Settings()
        settings.subscriptions = configuration.subscriptions ?? ["*"]
        settings.keepVersions = configuration.keepVersions ?? 2
        settings.cacheBudgetBytes = configuration.cacheBudgetGiB.map { Int64($0 * 1_073_741_824) }
        pass = SyncPass(
            reader: CatalogReader(
                client: central, trusted: trusted,
                stateFile: directory.appendingPathComponent("catalog-state.json").path),
            fetcher: ChunkFetcher(
                mirrors: [configuration.central.url] + (configuration.central.mirrors ?? []),
                images: try ImageCache(directory: directory.appendingPathComponent("images")),
                partialDirectory: directory.appendingPathComponent("partial"), policy: policy, httpClient: centralHTTP,
                tokens: configuration.centralToken().map { [configuration.central.url: $0] } ?? [:], logger: logger),
            registrar: CloudStackRegistrar(client: client, zoneIDs: configuration.cloudstack.zones ?? [], logger: logger), settings: settings,
            imageURL: imageURL, logger: logger)
    }

    /// Where the last pass's report is kept.
    public var statusPath: String { URL(fileURLWithPath: configuration.directory).appendingPathComponent("status.json").path }

    /// Agents before the images became the chunk cache kept every chunk a second time under `chunks/`:
    /// nothing reads it any more, so its space is given back.
    func removeLegacyChunkCache() {
        let legacy = URL(fileURLWithPath: configuration.directory).appendingPathComponent("chunks")
        guard FileManager.default.fileExists(atPath: legacy.path) else { return }
        do {
            try FileManager.default.removeItem(at: legacy)
            logger.info("removed the chunk cache of an earlier agent release (the images hold the chunks now)", metadata: ["path": "\(legacy.path)"])
        } catch {
            logger.warning("could not remove the chunk cache of an earlier agent release", metadata: ["path": "\(legacy.path)", "error": "\(error)"])
        }
    }

    /// Runs one pass and records its report (also when it fails).
    @discardableResult
    public func runOnce() async -> AgentStatus {
        let started = Date()
        var status = AgentStatus(started: Timestamps.string(from: started), finished: "", seconds: 0, outcomes: [], error: nil)
        removeLegacyChunkCache()
        do {
            status.outcomes = try await pass.run()
        } catch {
            status.error = "\(error)"
            logger.error("sync pass failed", metadata: ["error": "\(error)"])
        }
        status.finished = Timestamps.string(from: Date())
        status.seconds = Date().timeIntervalSince(started)
        for outcome in status.outcomes {
            logger.info(
                "template synced",
                metadata: [
                    "template": "\(outcome.template)", "version": "\(outcome.version)", "state": "\(outcome.state)",
                    "bytes_downloaded": "\(outcome.bytesDownloaded)", "bytes_reused": "\(outcome.bytesReused)",
                ])
        }
        if let data = try? OrderedJSONEncoder().encode(status).serializedBytes() {
            try? Data(data).write(to: URL(fileURLWithPath: statusPath), options: .atomic)
        }
        await report(status)
        return status
    }

    /// Sends the pass's outcome to the central server (needs `site` and a token); a failure is logged only.
    func report(_ status: AgentStatus) async {
        guard let site = configuration.site, central.token != nil, !status.outcomes.isEmpty else { return }
        let states = status.outcomes.map {
            SiteTemplateState(
                site: site, template: $0.template, version: $0.version, state: $0.state, bytesDownloaded: $0.bytesDownloaded,
                bytesReused: $0.bytesReused, error: $0.error)
        }
        do {
            try await central.report(site: site, states)
        } catch {
            logger.warning("could not report to the central server", metadata: ["error": "\(error)"])
        }
    }

    /// The report of the last pass, if any.
    public func lastStatus() -> AgentStatus? {
        FileManager.default.contents(atPath: statusPath).flatMap { try? JSONDecoder().decode(AgentStatus.self, from: $0) }
    }
}

/// What a pass did, as kept in `status.json` and printed by `mclouds agent status`.
public struct AgentStatus: Codable, Sendable {
    public var started: String
    public var finished: String
    public var seconds: Double
    public var outcomes: [SyncPass.Outcome]
    public var error: String?

    /// True when the pass ran and every version is ready.
    public var succeeded: Bool { error == nil && outcomes.allSatisfy { $0.error == nil && $0.state.hasPrefix("ready") } }
}

/// Runs the agent's passes on its schedule until a graceful shutdown.
public struct AgentService: Service {
    public let agent: Agent
    public let schedule: AgentSchedule
    let logger: Logger

    public init(agent: Agent, logger: Logger) {
        self.agent = agent
        schedule = AgentSchedule(agent.configuration.schedule)
        self.logger = logger
    }

    public func run() async throws {
        // A first pass at start, then on the schedule.
        await agent.runOnce()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let next = schedule.next(after: Date())
            logger.info("next sync pass", metadata: ["at": "\(Timestamps.string(from: next))"])
            let wait = max(0, next.timeIntervalSinceNow)
            do {
                try await gracefulShutdown(sleeping: wait)
            } catch {
                return
            }
            await agent.runOnce()
        }
    }

    /// Sleeps, returning early (by throwing) on graceful shutdown.
    private func gracefulShutdown(sleeping seconds: TimeInterval) async throws {
        try await cancelWhenGracefulShutdown {
            try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        }
    }
}
