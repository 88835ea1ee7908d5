import Access
import ArgumentParser
import Builder
import Classroom
import CloudStack
import CloudStackSimulator
import Core
import Dashboard
import Federation
import Foundation
import Logging
import Server
import ServiceLifecycle
import SyncAgent
import TemplateRepository
import UnixSignals
import Yams

/// `mclouds demo`: the federation on loopback — three simulated CloudStack regions, the central server,
/// and one site agent per region that pulls a published sample template into its region.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the mClouds federation on loopback: three simulated CloudStack regions, the central server and a site agent per region.",
        discussion: """
            Publishes a generated sample template, watches every region's agent bring it to Ready, then publishes a v2 with
            5 % of it changed and shows that only the changed chunks move. Prints each region's endpoint and keys (with a
            ready-to-paste `cs` line) and the central server's address. Ctrl-C stops everything.
            """
    )

    @OptionGroup var global: GlobalOptions

    /// The demo regions, with the ids and ports of the alliance's region table.
    static let regions: [(id: Int, name: String, port: Int, vms: Int)] = [
        (1, "MECA-PolITO", 18_081, 60),
        (6, "MECA-TUS", 18_086, 35),
        (3, "MECA-BME", 18_083, 20),
    ]

    static let centralPort = 8080
    static let template = "demo-ubuntu"
    /// The template the demo builds from a recipe on ``template``, and where.
    static let builtTemplate = "demo-eda"
    static let buildRegion = "MECA-PolITO"
    static let recipe = """
        name: demo-eda
        description: The demo's Ubuntu with the microelectronics labs' tool chain
        os: linux
        base:
          template: demo-ubuntu
        packages: [yosys, iverilog, gtkwave, klayout, magic, ngspice, verilator]
        build:
          offering: Small Instance
          timeoutMinutes: 10
        output:
          osType: Ubuntu 22.04 LTS
          displayText: Demo EDA lab
        version: counter
        checks:
          - name: yosys
            run: yosys -V
          - name: verilator
            run: verilator --version
        """

    @Option(help: "Add this to every demo port (to run next to something that holds them).")
    var portOffset: Int = 0

    @Option(help: "Size of the generated sample template in MiB.")
    var sampleMib: Int = 256

    @Option(help: "Keep the demo's data (repository, agents' caches) in this directory instead of a temporary one.")
    var data: String?

    @Flag(help: "Run the scenario, print the outcome and exit (status 1 if a region did not reach Ready).")
    var once = false

    @Flag(help: "Show the services' informational logs too.")
    var verbose = false

    func run() async throws {
        let logger = global.makeLogger(label: "mclouds.demo")
        var servicesLogger = logger
        if !verbose { servicesLogger.logLevel = max(logger.logLevel, .warning) }
        let quiet = servicesLogger
        let temporary = data == nil
        let root = URL(
            fileURLWithPath: data ?? FileManager.default.temporaryDirectory.appendingPathComponent("mclouds-demo-\(UUID().uuidString)").path)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { if temporary { try? FileManager.default.removeItem(at: root) } }

        let simulators = try Self.regions.map { region in
            var c = SimulatorConfiguration.default(regionName: region.name)
            c.regionID = region.id
            c.port = region.port + portOffset
            c.zones[0].name = "\(region.name)-Zone1"
            c.jobDurationMilliseconds = 1000
            c.guestProvisioningSeconds = 3
            c.seedVirtualMachines = region.vms
            c.storageDirectory = root.appendingPathComponent("simulators/\(region.name)").path
            return try Simulator(configuration: c, logger: quiet)
        }
        let centralData = DataDirectory(root.appendingPathComponent("central").path)
        let repository = try await centralData.openRepository(logger: quiet)
        var collection = DashboardCollector.Configuration()
        collection.interval = .seconds(60)
        collection.regionTimeout = .seconds(10)
        let federation = try await centralData.openFederation(collector: collection, logger: quiet)
        // A re-run with the same --data meets the registry of the last run: its regions get this run's endpoints and keys
        // (the simulators start afresh), so nothing is left pointing at old ports or keys.
        for simulator in simulators {
            let id = simulator.configuration.regionID
            let (apiKey, secret) = (simulator.adminKeys.apikey ?? "", simulator.adminKeys.secretkey ?? "")
            if (try? await federation.registry.region(String(id))) != nil {
                _ = try await federation.registry.update(
                    id, .init(name: simulator.configuration.regionName, endpoint: simulator.endpoint, apiKey: apiKey, secretKey: secret))
            } else {
                try await federation.registry.add(
                    FederationRegion(
                        id: id, name: simulator.configuration.regionName, endpoint: simulator.endpoint, apiKey: apiKey,
                        contact: "ops@\(simulator.configuration.regionName.lowercased()).example"),
                    secretKey: secret)
            }
        }
        let access = try await centralData.openAccess(logger: quiet)
        let classroom = try await centralData.openClassroom(logger: quiet)
        let builds = try await centralData.openBuilds(logger: quiet)
        var tuning = BuildRunner.Configuration()
        tuning.pollSeconds = 1
        let centralURL = "http://127.0.0.1:\(Self.centralPort + portOffset)"
        let runner = BuildRunner(
            store: builds.store, leases: builds.leases, registry: federation.registry, repository: repository, workDirectory: builds.work,
            callbackURL: { centralURL }, configuration: tuning, logger: quiet)
        let central = MCloudsServer(
            configuration: .init(port: Self.centralPort + portOffset), repository: repository, federation: federation, access: access,
            classroom: classroom.store, builds: runner, logger: quiet)
        // The classroom runs on a fast clock: a session's lead, class and teardown pass in well under a minute.
        let demoClock = ScaledWallClock(start: Date(), factor: DemoClassroom.speed)
        let classroomClouds = central.classroomClouds(federation: federation, store: classroom.store)
        let lifecycle = SessionLifecycle(
            store: classroom.store, leases: classroom.leases, clouds: classroomClouds, clock: demoClock,
            configuration: DemoClassroom.lifecycleConfiguration, secrets: federation.registry.secrets, logger: quiet)
        var made: [DemoSite] = []
        for simulator in simulators {
            // Each agent gets a token of its own that can read the catalog and report for its site only.
            let region = simulator.configuration.regionName
            let (_, token) = try await access.tokens.create(
                name: "demo agent \(region)", role: .siteAgent, scope: region, expires: Date().addingTimeInterval(30 * 86_400))
            made.append(
                try DemoSite(
                    simulator: simulator, root: root.appendingPathComponent("agents/\(region)"),
                    central: "http://127.0.0.1:\(Self.centralPort + portOffset)", token: token, trustedKey: repository.key.publicKey.base64,
                    logger: quiet))
        }
        let sites = made
        let services: [any Service] = simulators + [central] + sites.map(\.images) + [federation.collector, lifecycle, runner]
        let group = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
        let once = once
        let succeeded = try await withThrowingTaskGroup(of: Bool?.self) { tasks in
            tasks.addTask {
                do {
                    try await group.run()
                } catch  where "\(error)".contains("Address already in use") {
                    let ports = (simulators.map(\.configuration.port) + [Self.centralPort + portOffset]).map(String.init).joined(separator: ", ")
                    throw CLIError("A port the demo needs (\(ports)) is already in use. Stop the other process, or pass --port-offset.")
                }
                return nil
            }
            tasks.addTask {
                for simulator in simulators { guard await simulator.waitUntilRunning() != 0 else { return nil } }
                guard await central.waitUntilRunning() != 0 else { return nil }
                for site in sites { guard await site.images.waitUntilRunning() != 0 else { return nil } }
                Self.printEndpoints(simulators, central: central, root: root, temporary: temporary)
                let ok = try await DemoScenario(
                    repository: repository, federation: federation, sites: sites, samples: root.appendingPathComponent("samples"),
                    sampleMiB: sampleMib, builds: runner
                ).run(logger: quiet)
                Console.line(
                    "\n== 7. A teacher books a weekly lab; on the demo's clock (\(Int(DemoClassroom.speed))× real time) its seats run before the start and are gone after the end"
                )
                let classOK = try await DemoClassroom(
                    store: classroom.store, clouds: classroomClouds, clock: demoClock, lifecycle: DemoClassroom.lifecycleConfiguration,
                    collect: {
                        _ = try await federation.collector.collectNow()
                        return try await federation.collector.summary().runningVirtualMachines
                    }, centralURL: central.baseURL, users: access.users, secrets: federation.registry.secrets,
                    exportDirectory: root.appendingPathComponent("classroom")
                ).run(template: Demo.template, follow: true, logger: quiet)
                if once {
                    await group.triggerGracefulShutdown()
                } else {
                    Console.line("\nThe agents check for new versions every minute. Press Ctrl-C to stop.")
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(60))
                        if Task.isCancelled { break }
                        for site in sites { await site.agent.runOnce() }
                    }
                }
                return ok && classOK
            }
            var outcome = true
            while let result = try await tasks.next() {
                if let result { outcome = result } else { tasks.cancelAll() }
            }
            return outcome
        }
        if once && !succeeded { throw ExitCode(1) }
    }

    static func printEndpoints(_ simulators: [Simulator], central: MCloudsServer, root: URL, temporary: Bool) {
        Console.line("mClouds demo: \(simulators.count) simulated CloudStack regions, the central server and a site agent per region, on loopback\n")
        for simulator in simulators {
            let keys = simulator.adminKeys
            Console.line("\(simulator.configuration.regionName)")
            Console.line("  endpoint:   \(simulator.endpoint)")
            Console.line("  api key:    \(keys.apikey ?? "")")
            Console.line("  secret key: \(keys.secretkey ?? "")")
            Console.line(
                "  try:        CLOUDSTACK_ENDPOINT=\(simulator.endpoint) CLOUDSTACK_KEY=\(keys.apikey ?? "") CLOUDSTACK_SECRET=\(keys.secretkey ?? "") cs listTemplates templatefilter=featured"
            )
            Console.line()
        }
        Console.line("dashboard:      \(central.baseURL)/  (JSON at /api/v1/dashboard, Prometheus at /metrics)")
        Console.line("central server: \(central.baseURL)  (API description at \(central.baseURL)/openapi.yaml)")
        Console.line("  try:        mclouds template status --server \(central.baseURL)")
        Console.line("data:           \(root.path)\(temporary ? " (removed at exit; keep it with --data DIR)" : "")\n")
    }
}

/// One region's site agent in the demo: its configuration file (usable with `mclouds agent status
/// --config`), its image endpoint and the agent.
struct DemoSite: Sendable {
    let region: String
    let images: ImageServer
    let agent: Agent

    init(simulator: Simulator, root: URL, central: String, token: String, trustedKey: String, logger: Logger) throws {
        region = simulator.configuration.regionName
        try FileManager.default.createDirectory(at: root.appendingPathComponent("images"), withIntermediateDirectories: true)
        let secretFile = root.appendingPathComponent("cloudstack-secret")
        let tokenFile = root.appendingPathComponent("central-token")
        for (file, text) in [(secretFile, simulator.adminKeys.secretkey ?? ""), (tokenFile, token)] {
            try Data(text.utf8).write(to: file)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        }
        let yaml = """
            # Written by `mclouds demo` for the region \(region).
            site: \(region)
            central:
              url: \(central)
              tokenFile: \(tokenFile.path)
              trustedKeys: ["\(trustedKey)"]
            cloudstack:
              endpoint: \(simulator.endpoint)
              apiKey: \(simulator.adminKeys.apikey ?? "")
              secretKeyFile: \(secretFile.path)
            subscriptions: ["*"]
            keepVersions: 2
            directory: \(root.path)
            schedule:
              intervalMinutes: 1

            """
        let configFile = root.appendingPathComponent("agent.yaml")
        try Data(yaml.utf8).write(to: configFile)
        let configuration = try YAMLDecoder().decode(AgentConfiguration.self, from: yaml)
        let images = ImageServer(configuration: .init(directory: root.appendingPathComponent("images").path), logger: logger)
        self.images = images
        var agentLogger = logger
        agentLogger[metadataKey: "site"] = "\(region)"
        agent = try Agent(configuration: configuration, imageURL: { images.url(for: $0) }, logger: agentLogger)
    }
}

/// What the demo shows: a published sample template reaching Ready in every region, then a v2 of which
/// only the changed chunks move.
struct DemoScenario {
    let repository: Repository
    let federation: FederationServices
    let sites: [DemoSite]
    let samples: URL
    let sampleMiB: Int
    let builds: BuildRunner

    /// Returns true when every region ends with both versions ready.
    func run(logger: Logger) async throws -> Bool {
        Console.line("== 0. The region registry reaches every installation (each CloudStack's regions table lists all three)")
        var stepsOK = true
        for report in try await RegionReconciler(registry: federation.registry, logger: logger).run(dryRun: false) {
            stepsOK = stepsOK && report.ok
            let changes = report.applied.map(\.description).joined(separator: ", ")
            Console.line(
                "\(report.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(report.ok ? (changes.isEmpty ? "in line" : changes) : "error: \(report.error ?? report.failures.joined(separator: "; "))")"
            )
        }
        stepsOK = try await collect() && stepsOK
        Console.line()
        try FileManager.default.createDirectory(at: samples, withIntermediateDirectories: true)
        let v1 = samples.appendingPathComponent("\(Demo.template)-1.qcow2")
        let v2 = samples.appendingPathComponent("\(Demo.template)-2.qcow2")
        Console.line("== 1. Publish a generated sample template, \(Demo.template)@1 (\(sampleMiB) MiB)")
        try SampleImage.write(v1, mebibytes: sampleMiB, seed: 1)
        try await publish(v1, version: "1", software: ["openssh-server"])
        Console.line("\n== 2. Each region's agent pulls it, verifies it and registers it in its CloudStack")
        let first = await syncAll()

        let places = max(8, sampleMiB / 10)
        Console.line("\n== 3. Publish \(Demo.template)@2: the same image with 5 % of its bytes changed in \(places) places and 10 insertions")
        try SampleImage.edit(from: v1, to: v2, changedPercent: 5, regions: places, insertions: 10, seed: 2)
        try await publish(v2, version: "2", software: ["openssh-server", "python3"])
        Console.line("\n== 4. The agents fetch only the chunks v2 does not share with v1")
        let second = await syncAll()

        Console.line(
            "\n== 5. Build \(Demo.builtTemplate) from a recipe in \(Demo.buildRegion): a VM from \(Demo.template) installs 7 EDA tools, reports its checks, becomes a template"
        )
        let build = await builds.build(try Recipe.parse(Demo.recipe, file: "demo recipe"), region: Demo.buildRegion, requestedBy: "demo")
        for line in try await builds.store.log(build.id) {
            Console.line("\((line.step?.rawValue ?? "").padding(toLength: 15, withPad: " ", startingAt: 0)) \(line.text)")
        }
        Console.line(BuildsWire.summary(build))
        Console.line("\n== 6. The agents fetch only the built version's chunks that \(Demo.template) does not have")
        let third = build.state == .succeeded ? await syncAll() : false

        stepsOK = try await collect() && stepsOK
        Console.line("\n== Rollout (template × region), as the agents reported it to the central server")
        Console.line(Table.render(RolloutMatrix.rows(try await repository.rollout())))
        let summary = try await federation.collector.summary()
        Console.line("\n== The federation on the dashboard")
        for resource in [Resource.cpu, .memory, .primaryStorage, .publicIPs] {
            let figure = summary.total(resource)
            Console.line(
                "\(resource.title.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(format: "%5.1f", figure.percentUsed)) % used of \(resource.isBytes ? ByteCount.format(figure.total) : String(figure.total))"
            )
        }
        Console.line(
            "virtual machines   \(summary.runningVirtualMachines) running of \(summary.virtualMachines); hosts \(summary.hostsUp) up of \(summary.hosts)"
        )
        return first && second && third && stepsOK
    }

    /// One collection of every region; false (and the regions named) when one could not be read.
    private func collect() async throws -> Bool {
        let report = try await federation.collector.collectNow()
        if !report.failed.isEmpty { Console.line("error: the dashboard could not read \(report.failed.joined(separator: ", "))") }
        return report.failed.isEmpty
    }

    private func publish(_ file: URL, version: String, software: [String]) async throws {
        let size = ((try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? Int64) ?? 0
        let bar = ProgressBar(label: "publishing", total: size)
        let report = try await repository.publish(
            imageAt: file.path,
            metadata: TemplateMetadata(
                name: Demo.template, version: version, format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS",
                displayText: "Ubuntu 22.04 demo image, version \(version)", software: software)
        ) { bar.update($0) }
        bar.finish()
        Console.line(
            "published \(report.name)@\(report.version): \(ByteCount.format(report.size)) in \(report.chunks) chunks, \(report.newChunks) new (\(ByteCount.format(report.newBytes)) stored)"
        )
    }

    /// Runs a pass in every region at once and prints each region's outcome as it finishes.
    private func syncAll() async -> Bool {
        await withTaskGroup(of: (String, AgentStatus).self) { group in
            for site in sites { group.addTask { (site.region, await site.agent.runOnce()) } }
            var all = true
            for await (region, status) in group {
                all = all && status.succeeded
                if let error = status.error { Console.line("\(region): pass failed: \(error)") }
                for outcome in status.outcomes {
                    let moved =
                        outcome.bytesDownloaded + outcome.bytesReused == 0
                        ? "already here"
                        : "downloaded \(ByteCount.format(outcome.bytesDownloaded)), reused \(ByteCount.format(outcome.bytesReused)) from the cache"
                    let name = "\(outcome.template)@\(outcome.version)".padding(toLength: 16, withPad: " ", startingAt: 0)
                    let error = outcome.error.map { " — \($0)" } ?? ""
                    Console.line("\(region.padding(toLength: 12, withPad: " ", startingAt: 0)) \(name) \(outcome.state): \(moved)\(error)")
                }
            }
            return all
        }
    }
}

/// Sample images for the demo: a QCOW2 header (so CloudStack reports a virtual size) and random-looking
/// content, and a v2 that changes scattered regions and inserts a few runs — written in blocks.
enum SampleImage {
    static func write(_ url: URL, mebibytes: Int, seed: UInt64) throws {
        try Synthetic.writeFile(url, bytes: mebibytes << 20, seed: seed)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.write(contentsOf: Data(QCOW2Header.bytes()))
    }

    /// Copies `source` to `destination` with `changedPercent` % of the bytes rewritten in `regions`
    /// scattered places and `insertions` runs of 4 KiB inserted.
    static func edit(from source: URL, to destination: URL, changedPercent: Int, regions: Int, insertions: Int, seed: UInt64) throws {
        let size = ((try FileManager.default.attributesOfItem(atPath: source.path))[.size] as? Int) ?? 0
        var rng = SplitMix64(seed: seed)
        let regionLength = max(1, size * changedPercent / 100 / regions)
        var edits: [(offset: Int, insert: Bool)] = (0..<regions).map { _ in (Int(rng.next() % UInt64(max(1, size - regionLength))) + 4096, false) }
        edits += (0..<insertions).map { _ in (Int(rng.next() % UInt64(max(1, size - 4096))) + 4096, true) }
        edits.sort { $0.offset < $1.offset }
        let input = try FileHandle(forReadingFrom: source)
        defer { try? input.close() }
        _ = FileManager.default.createFile(atPath: destination.path, contents: nil)
        let output = try FileHandle(forWritingTo: destination)
        defer { try? output.close() }
        var position = 0
        for edit in edits where edit.offset >= position {
            try copy(input, output, edit.offset - position)
            position = edit.offset
            if edit.insert {
                try output.write(contentsOf: Data(Synthetic.image(bytes: 4096, seed: rng.next())))
            } else {
                let length = min(regionLength, size - position)
                _ = try input.read(upToCount: length)
                try output.write(contentsOf: Data(Synthetic.image(bytes: length, seed: rng.next()).prefix(length)))
                position += length
            }
        }
        try copy(input, output, size - position)
    }

    private static func copy(_ input: FileHandle, _ output: FileHandle, _ count: Int) throws {
        var left = count
        while left > 0, let block = try input.read(upToCount: min(left, 8 << 20)), !block.isEmpty {
            try output.write(contentsOf: block)
            left -= block.count
        }
    }
}
