import ArgumentParser
import Builder
import CloudStack
import CloudStackSimulator
import Core
import Federation
import Foundation
import Logging
import Server
import TemplateRepository

/// `mclouds bench build`: a recipe built twice (one package changed) in a simulated region, and the bytes
/// the second version adds against shipping the whole image again (Packer's way: a new template per build).
struct BuildBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build a recipe twice in a simulated region (one package changed): time per build and bytes new vs the whole image.",
        discussion: """
            Registers a synthetic base image in a simulator, builds a 7-package recipe on it through the server's build API path
            (deploy, guest report, createTemplate, extractTemplate, download, publish), then again with one package swapped.
              mclouds bench build --base-mib 1024 --scratch /dev/shm
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Base image size in MiB.") var baseMib = 1024
    @Option(help: "Scratch directory.") var scratch = FileManager.default.temporaryDirectory.path

    func run() async throws {
        var logger = global.makeLogger(label: "mclouds.bench")
        logger.logLevel = .warning
        let root = URL(fileURLWithPath: scratch).appendingPathComponent("mclouds-bench-build-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let data = DataDirectory(root.appendingPathComponent("central").path)
        let repository = try await data.openRepository(logger: logger)
        let federation = try await data.openFederation(logger: logger)
        let builds = try await data.openBuilds(logger: logger)
        let images = root.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try Synthetic.writeFile(images.appendingPathComponent("base.qcow2"), bytes: baseMib << 20, seed: 5)
        let stamped = try FileHandle(forWritingTo: images.appendingPathComponent("base.qcow2"))
        try stamped.write(contentsOf: Data(QCOW2Header.bytes()))
        try stamped.close()
        var simulation = SimulatorConfiguration.default(regionName: "Bench-Build")
        simulation.jobDurationMilliseconds = 50
        simulation.guestProvisioningSeconds = 1
        let address = SharedURL(nil)
        var tuning = BuildRunner.Configuration()
        tuning.pollSeconds = 0.2
        let runner = BuildRunner(
            store: builds.store, leases: builds.leases, registry: federation.registry, repository: repository, workDirectory: builds.work,
            callbackURL: { address.value ?? "" }, configuration: tuning, logger: logger)
        let imageServer = ImageServer(configuration: .init(directory: images.path), logger: logger)
        try await Simulator.withRunning(simulation, logger: logger) { simulator in
            try await MCloudsServer.withRunning(.init(port: 0), repository: repository, federation: federation, builds: runner, logger: logger) {
                server in
                address.setIfUnset(server.baseURL)
                try await ServiceScope.withRunning([imageServer], logger: logger, ready: { _ = await imageServer.waitUntilRunning() }) {
                    let keys = simulator.adminKeys
                    try await federation.registry.add(
                        FederationRegion(id: 1, name: "Bench-Build", endpoint: simulator.endpoint, apiKey: keys.apikey!), secretKey: keys.secretkey!)
                    let client = CloudStackClient(
                        configuration: .init(endpoint: simulator.endpoint, apiKey: keys.apikey!, secretKey: keys.secretkey!, region: "Bench-Build"))
                    let zone = try await client.listZones(logger: logger)[0].id!
                    let os = try await client.listOsTypes(description: "Ubuntu 22.04 LTS", logger: logger)[0].id!
                    _ = try await client.registerTemplate(
                        .init(
                            name: "bench-base", displayText: "bench base", url: imageServer.url(for: "base.qcow2"), format: "QCOW2",
                            hypervisor: "KVM",
                            osTypeID: os, zoneIDs: [zone]), logger: logger)
                    while try await client.listTemplates(filter: .self, name: "bench-base", logger: logger).first?.isready != true {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    Console.line("== a recipe built twice on a \(baseMib) MiB base in a simulated region; the second with one package changed")
                    var packages = ["yosys", "iverilog", "gtkwave", "klayout", "magic", "ngspice", "verilator"]
                    var reports: [(BuildReport, Double)] = []
                    for round in 0..<2 {
                        if round == 1 { packages[4] = "netgen" }
                        let recipe = try Recipe.parse(Self.recipe(packages), file: "bench")
                        var report: BuildReport?
                        let seconds = try await Tools.timeAsync {
                            report = await runner.build(recipe, region: "Bench-Build", requestedBy: "bench")
                        }
                        guard let report, report.state == .succeeded else { throw CLIError("the build failed: \(report?.error ?? "")") }
                        reports.append((report, seconds))
                    }
                    Console.line("version  image        chunks  new chunks  new bytes    whole image  ratio  shared with previous  build time")
                    for (report, seconds) in reports {
                        let size = report.imageSize ?? 0
                        let new = report.newBytes ?? 0
                        let version = (report.version ?? "").padding(toLength: 8, withPad: " ", startingAt: 0)
                        let shared = (report.sharedWithPrevious.map { String(format: "%.2f %%", $0 * 100) } ?? "-").padding(
                            toLength: 20, withPad: " ", startingAt: 0)
                        let figures = String(
                            format: "%7.1f MiB  %6d  %10d  %7.1f MiB  %7.1f MiB  %5.1f×", Double(size) / 1_048_576, report.chunks ?? 0,
                            report.newChunks ?? 0, Double(new) / 1_048_576, Double(size) / 1_048_576, Double(size) / Double(max(new, 1)))
                        Console.line("\(version) \(figures)  \(shared)  \(String(format: "%7.2f s", seconds))")
                    }
                }
            }
        }
    }

    static func recipe(_ packages: [String]) -> String {
        """
        name: bench-eda
        os: linux
        base:
          cloudstack: bench-base
        packages: [\(packages.joined(separator: ", "))]
        build:
          offering: Small Instance
        output:
          osType: Ubuntu 22.04 LTS
        version: counter
        checks:
          - name: yosys
            run: yosys -V
        """
    }
}
