import ArgumentParser
import Core
import Foundation
import Logging
import Server
import ServiceLifecycle
import SyncAgent
import UnixSignals
import Yams

/// `mclouds agent …`: the site agent that pulls subscribed templates into the local CloudStack.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "The site agent: verified pull of subscribed templates into the local CloudStack.",
        subcommands: [Run.self, Sync.self, Status.self, Verify.self])

    struct Options: ParsableArguments {
        @OptionGroup var global: GlobalOptions
        @Option(help: "The agent configuration (YAML).") var config: String

        func load() throws -> AgentConfiguration {
            let configuration = try ConfigurationFile.load(AgentConfiguration.self, path: config)
            do {
                try configuration.validate()
                return configuration
            } catch let error as AgentConfigurationError {
                throw CLIError("\(config): \(error)")
            }
        }

        func imageServer(_ configuration: AgentConfiguration) throws -> ImageServer {
            let tls = try ServerCommand.tlsIdentity(certificate: configuration.images?.tlsCertificate, key: configuration.images?.tlsKey)
            return ImageServer(
                configuration: .init(
                    host: configuration.images?.host ?? "127.0.0.1", port: configuration.images?.port ?? 0,
                    directory: URL(fileURLWithPath: configuration.directory).appendingPathComponent("images").path,
                    allowedAddresses: configuration.images?.allowedAddresses ?? [], tls: tls))
        }

        /// The URL CloudStack fetches an image from: the configured public URL, else the server's own.
        func imageURL(_ configuration: AgentConfiguration, _ server: ImageServer) -> @Sendable (String) -> String {
            if let base = configuration.images?.publicURL { return { "\(base.hasSuffix("/") ? String(base.dropLast()) : base)/images/\($0)" } }
            return { server.url(for: $0) }
        }

        func makeAgent(_ configuration: AgentConfiguration, _ server: ImageServer, logger: Logger) throws -> Agent {
            do {
                try FileManager.default.createDirectory(
                    at: URL(fileURLWithPath: configuration.directory).appendingPathComponent("images"), withIntermediateDirectories: true)
                return try Agent(configuration: configuration, imageURL: imageURL(configuration, server), logger: logger)
            } catch let error as AgentConfigurationError {
                throw CLIError("\(config): \(error)")
            }
        }
    }

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one sync pass (for cron, a systemd timer or on demand); exit status 1 when a template is not ready.")
        @OptionGroup var options: Options
        @Flag(help: "Print the report as JSON.") var json = false

        func run() async throws {
            let configuration = try options.load()
            let logger = options.global.makeLogger(label: "mclouds.agent", json: configuration.jsonLogs ?? false)
            let server = try options.imageServer(configuration)
            let agent = try options.makeAgent(configuration, server, logger: logger)
            let status = try await ServiceScope.withRunning([server], logger: logger, ready: { _ = await server.waitUntilRunning() }) {
                await agent.runOnce()
            }
            try AgentCommand.print(status, json: json)
            if !status.succeeded { throw ExitCode(1) }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent as a service: a pass now, then on its schedule; SIGTERM or SIGINT stops it gracefully.")
        @OptionGroup var options: Options

        func run() async throws {
            let configuration = try options.load()
            let logger = options.global.makeLogger(label: "mclouds.agent", json: configuration.jsonLogs ?? false)
            let server = try options.imageServer(configuration)
            let agent = try options.makeAgent(configuration, server, logger: logger)
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: server), .init(service: AgentService(agent: agent, logger: logger))]
                        + (server.configuration.tls.map { [.init(service: TLSReloader(identity: $0, logger: logger))] } ?? []),
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the report of the last sync pass.")
        @OptionGroup var options: Options
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let configuration = try options.load()
            let path = URL(fileURLWithPath: configuration.directory).appendingPathComponent("status.json").path
            guard let data = FileManager.default.contents(atPath: path), let status = try? JSONDecoder().decode(AgentStatus.self, from: data) else {
                throw CLIError("No sync pass has run yet (no \(path)). Run `mclouds agent sync --config \(options.config)`.")
            }
            try AgentCommand.print(status, json: json)
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hash every image of this site against its signed manifest; with --repair, fetch damaged chunks again in a sync pass.",
            discussion: "Exit status 1 when an image is damaged and not repaired.")
        @OptionGroup var options: Options
        @Flag(help: "Re-fetch what does not verify (a sync pass follows).") var repair = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let configuration = try options.load()
            let logger = options.global.makeLogger(label: "mclouds.agent", json: configuration.jsonLogs ?? false)
            let images = try ImageCache(directory: URL(fileURLWithPath: configuration.directory).appendingPathComponent("images"))
            let checks = try images.verify(demotingDamaged: repair)
            if json && !repair { try printJSON(checks) }
            if !json {
                var rows = [["IMAGE", "CHUNKS", "DAMAGED"]]
                for check in checks {
                    rows.append([check.image, String(check.chunks), check.damaged < 0 ? "no manifest" : String(check.damaged)])
                }
                Console.line(Table.render(rows))
            }
            let damaged = checks.filter { $0.damaged != 0 }
            guard repair, !damaged.isEmpty else {
                if !damaged.isEmpty {
                    if !json { Console.line("\(damaged.count) image(s) damaged: run again with --repair.") }
                    throw ExitCode(1)
                }
                return
            }
            if !json { Console.line("Fetching the damaged chunks of \(damaged.count) image(s) again…") }
            let server = try options.imageServer(configuration)
            let agent = try options.makeAgent(configuration, server, logger: logger)
            let status = try await ServiceScope.withRunning([server], logger: logger, ready: { _ = await server.waitUntilRunning() }) {
                await agent.runOnce()
            }
            try AgentCommand.print(status, json: json)
            if !status.succeeded { throw ExitCode(1) }
        }
    }

    static func print(_ status: AgentStatus, json: Bool) throws {
        if json { return try printJSON(status) }
        Console.line("Pass \(status.started) → \(status.finished) (\(String(format: "%.1f", status.seconds)) s)")
        if let error = status.error { Console.line("error: \(error)") }
        var rows = [["TEMPLATE", "VERSION", "STATE", "DOWNLOADED", "REUSED", "ERROR"]]
        for o in status.outcomes {
            rows.append([o.template, o.version, o.state, ByteCount.format(o.bytesDownloaded), ByteCount.format(o.bytesReused), o.error ?? ""])
        }
        Console.line(Table.render(rows))
    }
}
