import Access
import ArgumentParser
import Builder
import Classroom
import Core
import Dashboard
import Federation
import Foundation
import Logging
import Server
import ServiceLifecycle
import Storage
import Synchronization
import TemplateRepository
import UnixSignals

/// `mclouds server`: the mClouds server (the template repository API, for now).
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the mClouds server: the template repository's HTTP API.",
        discussion: """
            Publishing needs an admin token: put it in a file given with --admin-token-file, or in MCLOUDS_ADMIN_TOKEN.
            The API is described at /openapi.yaml.

              MCLOUDS_ADMIN_TOKEN=s3cret mclouds server --data /var/lib/mclouds --port 8080
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "A YAML file of these settings (see deploy/server.yaml); options given here win over it.") var config: String?
    @Option(help: "The data directory (catalog database, chunks, publisher key).") var data: String?
    @Option(help: "Address to listen on (default 127.0.0.1).") var host: String?
    @Option(help: "Port (0 picks a free one; default 8080).") var port: Int?
    @Option(help: "A file holding the admin token (one per line).") var adminTokenFile: String?
    @Option(help: "Hours a signed catalog stays valid (re-signed at half; default 48).") var catalogValidityHours: Double?
    @Option(help: "Minutes between dashboard collections (also on demand: POST /api/v1/dashboard/collect; default 60).")
    var collectIntervalMinutes: Double?
    @Option(help: "Seconds a region may take to answer a collection (default 120).") var regionTimeoutSeconds: Double?
    @Option(help: "Days of dashboard history kept (default 30).") var retentionDays: Double?
    @OptionGroup var databaseOptions: DatabaseOptions
    @Option(help: "Hours between scrubs of the chunk store (every chunk read and hashed; 0: never; default 24).") var scrubIntervalHours: Double?
    @Option(help: "Seconds an idle connection stays open (0: until the client closes it; default 60).") var idleTimeoutSeconds: Double?
    @Option(help: "A PEM file of extra CA certificates to trust for regions' HTTPS endpoints.") var trustCa: String?
    @Option(help: "The URL clients reach this server at (behind a proxy), named in /openapi.yaml; default: the request's host.")
    var publicUrl: String?
    @Option(
        help: ArgumentHelp(
            "Admit a group of routes (admin, agent, downloads, web) only from these networks, e.g. admin=10.1.0.0/16,2001:db8::/32 (repeatable).",
            valueName: "group=cidr,…"))
    var allow: [String] = []
    @Option(help: ArgumentHelp("A proxy (address or network) whose X-Forwarded-For names the client (repeatable).", valueName: "cidr"))
    var trustedProxy: [String] = []
    @Option(help: "Serve HTTPS with this PEM certificate chain (reloaded on SIGHUP and when the file changes).") var tlsCertificate: String?
    @Option(help: "The PEM private key of --tls-certificate (mode 0600).") var tlsKey: String?
    @Option(help: "With TLS: also listen for plain HTTP on this port and redirect every request to HTTPS.") var redirectHttpPort: Int?
    @Option(
        help: "The URL template builder VMs reach this server at, for their one-time callback (default: --public-url, else the listening address).")
    var builderCallbackUrl: String?

    func validate() throws {
        if let publicUrl { try URLOption.validate(publicUrl, option: "--public-url", example: "https://mclouds.example.org") }
        if let builderCallbackUrl {
            try URLOption.validate(builderCallbackUrl, option: "--builder-callback-url", example: "https://mclouds.example.org")
        }
        if config == nil && data == nil { throw ValidationError("Give the data directory with --data DIR (or in a --config file).") }
    }

    func run() async throws {
        let logger = global.makeLogger(label: "mclouds.server")
        let file = try config.map { try ConfigurationFile.load(ServerConfigurationFile.self, path: $0) } ?? ServerConfigurationFile()
        guard let data = data ?? file.data else {
            throw CLIError("\(config ?? "The configuration file") names no data directory: add `data: /var/lib/mclouds` or pass --data.")
        }
        if let url = file.publicUrl, publicUrl == nil { try URLOption.validate(url, option: "publicUrl", example: "https://mclouds.example.org") }
        let host = host ?? file.host ?? "127.0.0.1"
        let port = port ?? file.port ?? 8080
        let publicUrl = publicUrl ?? file.publicUrl
        let catalogValidityHours = catalogValidityHours ?? file.catalogValidityHours ?? 48
        let collectIntervalMinutes = collectIntervalMinutes ?? file.dashboard?.collectIntervalMinutes ?? 60
        let regionTimeoutSeconds = regionTimeoutSeconds ?? file.dashboard?.regionTimeoutSeconds ?? 120
        let retentionDays = retentionDays ?? file.dashboard?.retentionDays ?? 30
        let scrubIntervalHours = scrubIntervalHours ?? file.scrubIntervalHours ?? 24
        let idleTimeoutSeconds = idleTimeoutSeconds ?? file.idleTimeoutSeconds ?? 60
        let trustCa = trustCa ?? file.dashboard?.trustCa
        var tokens: [String] = []
        if let adminTokenFile = adminTokenFile ?? file.adminTokenFile {
            guard let text = try? String(contentsOfFile: adminTokenFile, encoding: .utf8) else {
                throw CLIError("Cannot read the admin token file \(adminTokenFile): \(FileProblem.describe(path: adminTokenFile))")
            }
            tokens += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let token = ProcessInfo.processInfo.environment["MCLOUDS_ADMIN_TOKEN"], !token.isEmpty { tokens.append(token) }
        let addresses = try Self.addressPolicy(
            allow: allow.isEmpty ? (file.allow ?? [:]).map { "\($0.key)=\($0.value.joined(separator: ","))" } : allow,
            trustedProxies: trustedProxy.isEmpty ? file.trustedProxies ?? [] : trustedProxy)
        let tls = try Self.tlsIdentity(certificate: tlsCertificate ?? file.tls?.certificate, key: tlsKey ?? file.tls?.key)
        let redirectHttpPort = redirectHttpPort ?? file.tls?.redirectHttpPort
        if redirectHttpPort != nil && tls == nil { throw CLIError("--redirect-http-port needs TLS: give --tls-certificate and --tls-key.") }
        let directory = try databaseOptions.directory(data, file: file.database, secretsKey: file.secretsKey)
        // Held while the server runs: offline changes (`--data`) are refused meanwhile.
        let hold = try ServerHold.server(directory)
        defer { withExtendedLifetime(hold) {} }
        let repository: Repository
        do {
            repository = try await directory.openRepository(catalogValidity: catalogValidityHours * 3600, logger: logger) { key in
                Console.line("Created a publisher key in \(directory.keyPath); public key: \(key.publicKey.base64)")
            }
            let interrupted = try await repository.reapInterruptedPublishes()
            if interrupted > 0 { logger.warning("publishes interrupted by an earlier stop marked as such", metadata: ["count": "\(interrupted)"]) }
        } catch {
            throw CLIError("Cannot open the data directory \(data): \(error)")
        }
        var collection = DashboardCollector.Configuration()
        collection.interval = .milliseconds(Int64(collectIntervalMinutes * 60_000))
        collection.regionTimeout = .milliseconds(Int64(regionTimeoutSeconds * 1000))
        collection.retention = retentionDays * 86_400
        if let trustCa {
            do {
                collection.tls.additionalRoots = try TLSInspector.roots(pemFile: trustCa)
                _ = try HTTPClients.trusting(caBundle: trustCa)
                collection.caBundle = trustCa
            } catch {
                throw CLIError("Cannot read CA certificates from \(trustCa): \(error)")
            }
        }
        let federation: FederationServices
        do {
            federation = try await directory.openFederation(collector: collection, logger: logger) { path in
                Console.line("Created the secrets key \(path), which seals the regions' secret keys: back it up with the database.")
            }
        } catch {
            throw CLIError("Cannot open the region registry in \(data): \(error)")
        }
        for problem in directory.secretsKeyProblems() { logger.warning("\(problem)") }
        let access: AccessServices
        do {
            access = try await directory.openAccess(logger: logger)
        } catch {
            throw CLIError("Cannot open the token store in \(data): \(error)")
        }
        let classroom = try await directory.openClassroom(logger: logger)
        let builds = try await directory.openBuilds(logger: logger)
        let serverURL = SharedURL(builderCallbackUrl ?? publicUrl)
        let runner = BuildRunner(
            store: builds.store, leases: builds.leases, registry: federation.registry, repository: repository, workDirectory: builds.work,
            callbackURL: { serverURL.value ?? "http://\(host):\(port)" }, logger: logger)
        let server = MCloudsServer(
            configuration: .init(
                host: host, port: port, adminTokens: tokens, publicURL: publicUrl,
                idleTimeout: idleTimeoutSeconds > 0 ? .milliseconds(Int64(idleTimeoutSeconds * 1000)) : nil, addresses: addresses, tls: tls,
                redirectHTTPPort: redirectHttpPort),
            repository: repository,
            federation: federation, access: access, classroom: classroom.store, builds: runner,
            logger: logger)
        // The classroom lifecycle runs on every server; the lease makes one of them do the work.
        let lifecycle = SessionLifecycle(
            store: classroom.store, leases: classroom.leases, clouds: server.classroomClouds(federation: federation, store: classroom.store),
            secrets: federation.registry.secrets, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: server), .init(service: federation.collector), .init(service: lifecycle), .init(service: runner),
            .init(service: runner.scheduler()),
        ]
        if let tls {
            logger.notice("serving HTTPS", metadata: ["certificate": "\(tls.summary)"])
            services.append(.init(service: TLSReloader(identity: tls, logger: logger)))
        }
        if scrubIntervalHours > 0 {
            let scrubber = StoreScrubber(
                repository: repository, interval: .milliseconds(Int64(scrubIntervalHours * 3_600_000)), clock: ContinuousClock(),
                metrics: federation.metrics, logger: logger)
            services.append(.init(service: scrubber))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let publicKey = repository.key.publicKey.base64
        let publishing = tokens.isEmpty ? "off (no admin token configured)" : "on (admin token required)"
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                do {
                    try await group.run()
                } catch  where "\(error)".contains("Address already in use") {
                    throw CLIError("Port \(port) is already in use. Stop the other process or choose another --port.")
                }
            }
            tasks.addTask {
                let bound = await server.waitUntilRunning()
                guard bound != 0 else { return }
                serverURL.setIfUnset("\(server.scheme)://\(host):\(bound)")
                Console.line("mclouds server listening on \(server.scheme)://\(host):\(bound)")
                Console.line("  publisher key: \(publicKey)")
                Console.line("  publishing:    \(publishing)")
                Console.line("  dashboard:     \(server.scheme)://\(host):\(bound)/  (metrics at /metrics)")
                if let tls { Console.line("  certificate:   \(tls.summary)") }
                if redirectHttpPort != nil { Console.line("  redirecting:   http://\(host):\(await server.waitUntilRedirecting()) → HTTPS") }
            }
            try await tasks.waitForAll()
        }
    }

    /// The TLS identity of `--tls-certificate` and `--tls-key` (both or neither).
    static func tlsIdentity(certificate: String?, key: String?) throws -> TLSIdentity? {
        guard certificate != nil || key != nil else { return nil }
        guard let certificate, let key else { throw CLIError("TLS needs both --tls-certificate and --tls-key.") }
        do {
            return try TLSIdentity(certificate: certificate, key: key)
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// The allowlists from `GROUP=CIDR,CIDR` texts and the trusted proxies.
    /// - Throws: ``CLIError`` naming the group or network that is not valid.
    static func addressPolicy(allow: [String], trustedProxies: [String]) throws -> AddressPolicy {
        var policy = AddressPolicy()
        for entry in allow {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let group = AddressPolicy.Group(rawValue: parts[0]) else {
                throw CLIError(
                    "--allow needs GROUP=CIDR,… with GROUP one of \(AddressPolicy.Group.allCases.map(\.rawValue).joined(separator: ", ")) (got \(Console.escaped(entry)))."
                )
            }
            for text in parts[1].split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                guard let network = CIDR(text) else {
                    throw CLIError("--allow \(group.rawValue): \(Console.escaped(text)) is not an address or network (10.0.0.0/8, 2001:db8::/32).")
                }
                policy.allow[group, default: []].append(network)
            }
        }
        for text in trustedProxies {
            guard let network = CIDR(text) else { throw CLIError("--trusted-proxy: \(Console.escaped(text)) is not an address or network.") }
            policy.trustedProxies.append(network)
        }
        return policy
    }
}

/// `mclouds keys generate`: a new publisher key pair.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage publisher keys.", subcommands: [Generate.self])

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate an Ed25519 publisher key pair.",
            discussion: "Writes the private key (mode 0600) and FILE.pub, and prints the public key readers must trust.")
        @Option(help: "Where to write the private key.") var out: String?
        @Option(help: "Write it as the data directory's own publisher key instead.") var data: String?

        func validate() throws {
            guard (out == nil) != (data == nil) else { throw ValidationError("Give either --out FILE or --data DIR.") }
        }

        func run() async throws {
            let path = out ?? DataDirectory(data!).keyPath
            let key = PublisherKey()
            do {
                try KeyFile.write(key, path: path)
            } catch {
                Console.error("error: \(error)")
                throw ExitCode(1)
            }
            Console.line("Private key: \(path)")
            Console.line("Public key:  \(key.publicKey.base64)")
            Console.line("Key id:      \(key.publicKey.keyID)")
        }
    }
}

/// A URL learnt once the server listens, read by the builds started after.
final class SharedURL: Sendable {
    private let url: Mutex<String?>

    init(_ url: String?) { self.url = Mutex(url) }

    var value: String? { url.withLock { $0 } }

    func setIfUnset(_ value: String) { url.withLock { $0 = $0 ?? value } }
}
