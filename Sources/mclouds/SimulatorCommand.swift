import ArgumentParser
import CloudStack
import CloudStackSimulator
import Core
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import Yams

/// `mclouds simulator`: one or many simulated CloudStack regions on loopback.
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "Run simulated CloudStack management servers (one per region) on loopback.",
        discussion: """
            Each region answers the CloudStack API at http://HOST:PORT/client/api with the admin keys printed at start-up.
            A YAML file may describe one region or a list under 'regions:'; flags override it.

              mclouds simulator --port 8080 --api-key KEY --secret-key SECRET
              mclouds simulator --regions 50 --base-port 19000 --hosts 200 --seed-vms 5000
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "YAML file with the simulator configuration (one region, or 'regions:' with a list).")
    var config: String?

    @Option(help: "Address to bind.")
    var host: String?

    @Option(help: "Port of the (first) region; 0 picks a free port.")
    var port: Int?

    @Option(parsing: .unconditional, help: "Admin API key (generated when absent; it may begin with \"-\", like CloudStack's).")
    var apiKey: String?

    @Option(parsing: .unconditional, help: "Admin secret key (generated when absent; prefer MCLOUDS_SIMULATOR_SECRET_KEY).")
    var secretKey: String?

    @Option(help: "Region name.")
    var regionName: String?

    @Option(help: "Run this many regions, on consecutive ports from --base-port.")
    var regions: Int?

    @Option(help: "First port when running several regions.")
    var basePort: Int = 19_000

    @Option(help: "Hosts per zone.")
    var hosts: Int?

    @Option(name: .customLong("seed-vms"), help: "Running VMs created at start-up in each region.")
    var seedVMs: Int?

    @Option(help: "How long async jobs stay pending, in milliseconds.")
    var jobMilliseconds: Int?

    @Option(help: "Save state to this file and restore it at start (one region only).")
    var stateFile: String?

    func validate() throws {
        if let regions, regions < 1 { throw ValidationError("--regions must be at least 1.") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535.") }
        if stateFile != nil, (regions ?? 1) > 1 { throw ValidationError("--state-file works with one region only.") }
    }

    func run() async throws {
        let logger = global.makeLogger(label: "mclouds.simulator")
        var configurations = try SimulatorConfigurationFile.load(path: config)
        if let regions {
            let template = configurations.first ?? SimulatorConfiguration()
            configurations = (0..<regions).map { i in
                var c = template
                c.regionName = regions == 1 ? template.regionName : "\(template.regionName)-\(i + 1)"
                c.regionID = i + 1
                c.port = basePort + i
                return c
            }
        }
        for i in configurations.indices {
            if let host { configurations[i].host = host }
            if let port, i == 0 { configurations[i].port = port }
            if let apiKey { configurations[i].apiKey = apiKey }
            if let secret = secretKey ?? ProcessInfo.processInfo.environment["MCLOUDS_SIMULATOR_SECRET_KEY"] { configurations[i].secretKey = secret }
            if let regionName, configurations.count == 1 { configurations[i].regionName = regionName }
            if let hosts { for z in configurations[i].zones.indices { configurations[i].zones[z].hostCount = hosts } }
            if let seedVMs {
                configurations[i].seedVirtualMachines = seedVMs
                for z in configurations[i].zones.indices where seedVMs > 250 { configurations[i].zones[z].guestCIDR = "10.1.0.0/16" }
            }
            if let jobMilliseconds { configurations[i].jobDurationMilliseconds = jobMilliseconds }
            if let stateFile { configurations[i].stateFile = stateFile }
        }
        let simulators = try configurations.map { try Simulator(configuration: $0, logger: logger) }
        try await SimulatorRunner.run(simulators, logger: logger) {
            for simulator in simulators {
                let keys = simulator.adminKeys
                Console.line("\(simulator.configuration.regionName)  \(simulator.endpoint)")
                if simulators.count <= 10 {
                    Console.line("  api key:    \(keys.apikey ?? "")")
                    Console.line("  secret key: \(keys.secretkey ?? "")")
                }
            }
            if simulators.count > 10, let keys = simulators.first?.adminKeys {
                Console.line(
                    "(\(simulators.count) regions; each has its own keys; the first: api key \(keys.apikey ?? ""), secret key \(keys.secretkey ?? ""))"
                )
            }
            Console.line("Press Ctrl-C to stop.")
        }
    }
}

/// Reads simulator YAML: a single region, or `regions:` with several.
enum SimulatorConfigurationFile {
    struct Many: Decodable {
        var regions: [SimulatorConfiguration]?
    }

    static func load(path: String?) throws -> [SimulatorConfiguration] {
        guard let path else { return [SimulatorConfiguration()] }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CLIError("Cannot read \(path): \(FileProblem.describe(path: path))")
        }
        let name = (path as NSString).lastPathComponent
        if (try? Yams.compose(yaml: text))??.mapping?["regions"] != nil {
            return try ConfigurationFile.decode(Many.self, from: text, name: name).regions ?? []
        }
        return [try ConfigurationFile.decode(SimulatorConfiguration.self, from: text, name: name)]
    }
}

/// Runs simulators as services with graceful shutdown on SIGINT/SIGTERM, calling `onReady` once all listen.
enum SimulatorRunner {
    static func run(_ simulators: [Simulator], logger: Logger, onReady: @escaping @Sendable () -> Void) async throws {
        let group = ServiceGroup(
            configuration: .init(services: simulators.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                tasks.addTask {
                    var ports: [Int] = []
                    for simulator in simulators { ports.append(await simulator.waitUntilRunning()) }
                    if !ports.contains(0) { onReady() }
                }
                try await tasks.waitForAll()
            }
        } catch {
            if "\(error)".contains("Address already in use") {
                let ports = simulators.map { String($0.configuration.port) }.joined(separator: ", ")
                throw CLIError("A port the simulators need (\(ports)) is already in use. Stop the other process, or choose other ports.")
            }
            throw error
        }
    }
}

/// An error the CLI reports as its message alone.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
