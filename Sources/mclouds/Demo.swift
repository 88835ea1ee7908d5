import ArgumentParser
import CloudStack
import CloudStackSimulator
import Core
import Foundation
import Logging

/// `mclouds demo`: the federation on loopback.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the mClouds federation on loopback: three simulated CloudStack regions.",
        discussion: "Prints each region's endpoint, its admin keys and a ready-to-paste `cs` command line. Ctrl-C stops everything."
    )

    @OptionGroup var global: GlobalOptions

    /// The demo regions, with the ids and ports of the alliance's region table.
    static let regions: [(id: Int, name: String, port: Int)] = [
        (1, "MECA-PolITO", 18_081),
        (6, "MECA-TUS", 18_086),
        (3, "MECA-BME", 18_083),
    ]

    @Option(help: "Add this to every demo port (to run next to something that holds 1808x).")
    var portOffset: Int = 0

    func run() async throws {
        let logger = global.makeLogger(label: "mclouds.demo")
        let simulators = try Self.regions.map { region in
            var c = SimulatorConfiguration.default(regionName: region.name)
            c.regionID = region.id
            c.port = region.port + portOffset
            c.zones[0].name = "\(region.name)-Zone1"
            c.jobDurationMilliseconds = 1000
            return try Simulator(configuration: c, logger: logger)
        }
        try await SimulatorRunner.run(simulators, logger: logger) {
            Console.line("mClouds demo: \(simulators.count) simulated CloudStack regions on loopback\n")
            for simulator in simulators {
                let keys = simulator.adminKeys
                Console.line("\(simulator.configuration.regionName)")
                Console.line("  endpoint:   \(simulator.endpoint)")
                Console.line("  api key:    \(keys.apikey ?? "")")
                Console.line("  secret key: \(keys.secretkey ?? "")")
                Console.line(
                    "  try:        CLOUDSTACK_ENDPOINT=\(simulator.endpoint) CLOUDSTACK_KEY=\(keys.apikey ?? "") CLOUDSTACK_SECRET=\(keys.secretkey ?? "") cs listZones"
                )
                Console.line()
            }
            Console.line("Press Ctrl-C to stop.")
        }
    }
}
