import ArgumentParser
import Core
import Dashboard
import Foundation
import Logging
import Server
import ServiceLifecycle
import Storage
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
    @Option(help: "The data directory (catalog database, chunks, publisher key).") var data: String
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0 picks a free one).") var port = 8080
    @Option(help: "A file holding the admin token (one per line).") var adminTokenFile: String?
    @Option(help: "Hours a signed catalog stays valid (re-signed at half).") var catalogValidityHours = 48.0
    @Option(help: "Minutes between dashboard collections (also on demand: POST /api/v1/dashboard/collect).") var collectIntervalMinutes = 60.0
    @Option(help: "Seconds a region may take to answer a collection.") var regionTimeoutSeconds = 120.0
    @Option(help: "Days of dashboard history kept.") var retentionDays = 30.0
    @Option(
        help: ArgumentHelp(
            "A PostgreSQL database for the catalog, registry and dashboard (postgres://user@host:5432/db?sslmode=require; or set MCLOUDS_DATABASE_URL); default: SQLite in --data.",
            valueName: "url"))
    var databaseUrl: String?
    @Option(help: "A file holding the database password (or set MCLOUDS_DATABASE_PASSWORD).") var databasePasswordFile: String?
    @Option(help: "Connections in the PostgreSQL pool.") var databasePoolSize = 10
    @Option(help: "Hours between scrubs of the chunk store (every chunk read and hashed; 0: never).") var scrubIntervalHours = 24.0
    @Option(help: "Seconds an idle connection stays open (0: until the client closes it).") var idleTimeoutSeconds = 60.0
    @Option(help: "A PEM file of extra CA certificates to trust for regions' HTTPS endpoints.") var trustCa: String?
    @Option(help: "The URL clients reach this server at (behind a proxy), named in /openapi.yaml; default: the request's host.")
    var publicUrl: String?

    func validate() throws {
        if let publicUrl { try URLOption.validate(publicUrl, option: "--public-url", example: "https://mclouds.example.org") }
    }

    func run() async throws {
        let logger = global.makeLogger(label: "mclouds.server")
        var tokens: [String] = []
        if let adminTokenFile {
            guard let text = try? String(contentsOfFile: adminTokenFile, encoding: .utf8) else {
                throw CLIError("Cannot read the admin token file \(adminTokenFile): \(FileProblem.describe(path: adminTokenFile))")
            }
            tokens += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let token = ProcessInfo.processInfo.environment["MCLOUDS_ADMIN_TOKEN"], !token.isEmpty { tokens.append(token) }
        let environment = ProcessInfo.processInfo.environment
        var database: PostgresStore.Configuration?
        if let url = databaseUrl ?? environment["MCLOUDS_DATABASE_URL"].flatMap({ $0.isEmpty ? nil : $0 }) {
            var password = environment["MCLOUDS_DATABASE_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
            if let file = databasePasswordFile {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw CLIError("Cannot read the database password file \(file): \(FileProblem.describe(path: file))")
                }
                password = text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            database = PostgresStore.Configuration(url: url, password: password, poolSize: databasePoolSize)
        }
        let directory = DataDirectory(data, database: database)
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
        let server = MCloudsServer(
            configuration: .init(
                host: host, port: port, adminTokens: tokens, publicURL: publicUrl,
                idleTimeout: idleTimeoutSeconds > 0 ? .milliseconds(Int64(idleTimeoutSeconds * 1000)) : nil), repository: repository,
            federation: federation,
            logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: server), .init(service: federation.collector)]
        if scrubIntervalHours > 0 {
            let scrubber = StoreScrubber(
                repository: repository, interval: .milliseconds(Int64(scrubIntervalHours * 3_600_000)), clock: ContinuousClock(),
                metrics: federation.metrics, logger: logger)
            services.append(.init(service: scrubber))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let host = host
        let port = port
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
                Console.line("mclouds server listening on http://\(host):\(bound)")
                Console.line("  publisher key: \(publicKey)")
                Console.line("  publishing:    \(publishing)")
                Console.line("  dashboard:     http://\(host):\(bound)/  (metrics at /metrics)")
            }
            try await tasks.waitForAll()
        }
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
