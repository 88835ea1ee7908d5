import Foundation
import TemplateRepository

/// The site agent's configuration (`agent.yaml`). Secrets never come from the command line: the
/// CloudStack secret key from `MCLOUDS_CLOUDSTACK_SECRET` or `cloudstack.secretKeyFile`, the central
/// server's token from `MCLOUDS_AGENT_TOKEN` or `central.tokenFile`.
public struct AgentConfiguration: Codable, Sendable {
    public struct Central: Codable, Sendable {
        public var url: String
        public var tokenFile: String?
        /// Base64 Ed25519 public keys of trusted publishers.
        public var trustedKeys: [String]
        /// Further chunk sources (other sites, caches); the central server is always one.
        public var mirrors: [String]?
        /// A PEM bundle of CA certificates trusted (besides the system's) for the central server and mirrors.
        public var caBundle: String?
    }

    public struct CloudStackSettings: Codable, Sendable {
        public var endpoint: String
        public var apiKey: String
        public var secretKeyFile: String?
        /// Zone ids to register in; empty or absent means all zones.
        public var zones: [String]?
        /// A PEM bundle of CA certificates trusted (besides the system's) for the CloudStack endpoint.
        public var caBundle: String?
        /// `false` turns certificate verification off for the CloudStack endpoint (logged as a warning at every start).
        public var verifyTLS: Bool?
    }

    public struct Images: Codable, Sendable {
        public var host: String?
        public var port: Int?
        /// The base URL CloudStack's secondary storage uses to fetch images from this agent.
        public var publicURL: String?
        /// Addresses allowed to fetch images (secondary storage VMs); absent: loopback only.
        public var allowedAddresses: [String]?
        /// Serve the images over HTTPS with this PEM certificate chain (reloaded on SIGHUP and when it changes)…
        public var tlsCertificate: String?
        /// …and its PEM key.
        public var tlsKey: String?
    }

    public struct Schedule: Codable, Sendable {
        /// Local time of the daily pass, `HH:MM`.
        public var dailyAt: String?
        /// Or a pass every this many minutes.
        public var intervalMinutes: Int?
        /// Random delay added to each pass, so sites do not all start at once.
        public var jitterMinutes: Int?
    }

    public var central: Central
    public var cloudstack: CloudStackSettings
    /// This site's name in the central server's rollout reports (letters, digits, `.`, `_`, `-`).
    public var site: String?
    /// Template names or glob patterns.
    public var subscriptions: [String]?
    public var keepVersions: Int?
    /// The agent's directory: images (which are its chunk cache), partial downloads, state.
    public var directory: String
    public var parallelDownloads: Int?
    /// Bandwidth limit of all downloads together, in megabits per second (absent: unlimited).
    public var bandwidthLimitMbit: Double?
    /// Seconds without a byte after which a chunk download is aborted and retried (default 30).
    public var stallTimeoutSeconds: Double?
    /// Disk budget of the images in GiB (absent: unlimited): chunks of versions no longer kept go, least
    /// recently used first; current images always stay.
    public var cacheBudgetGiB: Double?
    public var images: Images?
    public var schedule: Schedule?
    /// Log lines as JSON objects (for log shippers).
    public var jsonLogs: Bool?

    /// Reads the secret key: `MCLOUDS_CLOUDSTACK_SECRET`, else `cloudstack.secretKeyFile`.
    /// - Throws: ``AgentConfigurationError`` when neither gives one.
    public func cloudStackSecret(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let secret = environment["MCLOUDS_CLOUDSTACK_SECRET"], !secret.isEmpty { return secret }
        if let file = cloudstack.secretKeyFile, let text = try? String(contentsOfFile: file, encoding: .utf8) {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        throw AgentConfigurationError("No CloudStack secret key: set MCLOUDS_CLOUDSTACK_SECRET or cloudstack.secretKeyFile.")
    }

    /// The central server's token, if any: `MCLOUDS_AGENT_TOKEN`, else `central.tokenFile`.
    public func centralToken(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let token = environment["MCLOUDS_AGENT_TOKEN"], !token.isEmpty { return token }
        return central.tokenFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Checks what can be checked without the network.
    /// - Throws: ``AgentConfigurationError`` naming the field.
    public func validate() throws {
        guard URL(string: central.url)?.scheme?.hasPrefix("http") == true else {
            throw AgentConfigurationError("central.url \(central.url) is not an http(s) URL.")
        }
        guard !central.trustedKeys.isEmpty else {
            throw AgentConfigurationError("central.trustedKeys is empty: add the publisher's public key (printed by `mclouds keys generate`).")
        }
        guard URL(string: cloudstack.endpoint)?.scheme?.hasPrefix("http") == true else {
            throw AgentConfigurationError("cloudstack.endpoint \(cloudstack.endpoint) is not an http(s) URL.")
        }
        if let limit = bandwidthLimitMbit, !(limit > 0) {
            throw AgentConfigurationError("bandwidthLimitMbit must be above 0 (leave it out for no limit).")
        }
        if let stall = stallTimeoutSeconds, !(stall > 0) { throw AgentConfigurationError("stallTimeoutSeconds must be above 0.") }
        if let parallel = parallelDownloads, parallel < 1 { throw AgentConfigurationError("parallelDownloads must be at least 1.") }
        if let keep = keepVersions, keep < 1 { throw AgentConfigurationError("keepVersions must be at least 1.") }
        if let site, !TemplateName.isValid(site) { throw AgentConfigurationError("site \(site) may use only letters, digits, '.', '_' and '-'.") }
        if let daily = schedule?.dailyAt, AgentSchedule.parseTime(daily) == nil {
            throw AgentConfigurationError("schedule.dailyAt \(daily) is not HH:MM.")
        }
        if (images?.tlsCertificate == nil) != (images?.tlsKey == nil) {
            throw AgentConfigurationError("images.tlsCertificate and images.tlsKey go together: give both (or neither, for plain HTTP).")
        }
        if let minutes = schedule?.intervalMinutes, minutes < 1 { throw AgentConfigurationError("schedule.intervalMinutes must be at least 1.") }
    }
}

/// A configuration problem, with the field and the fix.
public struct AgentConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// When the next pass runs: daily at a local time, or every N minutes, plus random jitter.
public struct AgentSchedule: Sendable {
    public enum Kind: Sendable, Equatable {
        case daily(hour: Int, minute: Int)
        case every(minutes: Int)
    }

    public var kind: Kind
    public var jitterMinutes: Int

    public init(_ configuration: AgentConfiguration.Schedule?) {
        if let minutes = configuration?.intervalMinutes {
            kind = .every(minutes: minutes)
        } else {
            let (hour, minute) = configuration?.dailyAt.flatMap(Self.parseTime) ?? (3, 0)
            kind = .daily(hour: hour, minute: minute)
        }
        jitterMinutes = configuration?.jitterMinutes ?? (configuration?.intervalMinutes == nil ? 30 : 0)
    }

    static func parseTime(_ text: String) -> (Int, Int)? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) else { return nil }
        return (h, m)
    }

    /// The next start strictly after `now`, with `jitter` (0…1) scaling the random delay.
    public func next(after now: Date, calendar: Calendar = .current, jitter: Double = Double.random(in: 0..<1)) -> Date {
        let base: Date
        switch kind {
        case .every(let minutes):
            base = now.addingTimeInterval(TimeInterval(minutes * 60))
        case .daily(let hour, let minute):
            var day = calendar.date(bySettingHour: hour, minute: minute, second: 0, of: now) ?? now
            if day <= now { day = calendar.date(byAdding: .day, value: 1, to: day) ?? day.addingTimeInterval(86_400) }
            base = day
        }
        return base.addingTimeInterval(TimeInterval(jitterMinutes * 60) * jitter)
    }
}
