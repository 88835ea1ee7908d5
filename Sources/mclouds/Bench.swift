import ArgumentParser
import CloudStack
import CloudStackSimulator
import Core
import Foundation
import Logging
import Server

/// `mclouds bench`: measurements recorded in BENCHMARKS.md (run with `swift run -c release`).
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (build with -c release).",
        subcommands: [
            SimulatorBench.self, ChunkingBench.self, PublishBench.self, SyncBench.self, DashboardBench.self, PrimitivesBench.self,
            NegotiationBench.self, StorageBench.self, ClassroomBench.self, BuildBench.self,
        ]
    )
}

/// Many simulated regions in one process, and how fast paged list calls come back, against curl.
struct SimulatorBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "Start many simulated regions in one process and time paged list calls (mclouds client vs curl)."
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Regions in the process.")
    var regions: Int = 50

    @Option(help: "Hosts per region.")
    var hosts: Int = 200

    @Option(help: "VMs per region.")
    var vms: Int = 5_000

    @Option(help: "Page requests timed per tool.")
    var requests: Int = 200

    func run() async throws {
        var logger = global.makeLogger(label: "mclouds.bench")
        logger.logLevel = .warning
        let started = ContinuousClock.now
        let simulators = try (0..<regions).map { i in
            var c = SimulatorConfiguration.default(regionName: "bench-\(i + 1)")
            c.zones[0].hostCount = hosts
            c.zones[0].guestCIDR = "10.1.0.0/16"
            c.seedVirtualMachines = vms
            return try Simulator(configuration: c, logger: logger)
        }
        // Stopped gracefully at the end (a cancelled server logs errors on its way out).
        try await ServiceScope.withRunning(simulators, logger: logger, ready: { for s in simulators { _ = await s.waitUntilRunning() } }) {
            let startup = ContinuousClock.now - started
            Console.line("regions: \(regions), hosts/region: \(hosts), VMs/region: \(vms)")
            Console.line("start-up (build state + listen): \(Tools.format(startup))   peak RSS: \(peakRSSMiB()) MiB")

            let clients = simulators.map { s in
                CloudStackClient(
                    configuration: .init(
                        endpoint: s.endpoint, apiKey: s.adminKeys.apikey!, secretKey: s.adminKeys.secretkey!, region: s.configuration.regionName))
            }
            // A full paged listing of one region, and of all of them.
            let one = ContinuousClock.now
            let listed = try await clients[0].listVirtualMachines(logger: logger).count
            Console.line("listVirtualMachines, all pages of one region (\(listed) VMs): \(Tools.format(ContinuousClock.now - one))")
            let all = ContinuousClock.now
            var total = 0
            for c in clients { total += try await c.listHosts(logger: logger).count }
            Console.line("listHosts, every region (\(total) hosts): \(Tools.format(ContinuousClock.now - all))")

            // One 500-VM page: our client vs curl on the same signed URL.
            var ours: [Duration] = []
            for i in 0..<requests {
                let c = clients[i % clients.count]
                let t = ContinuousClock.now
                _ = try await c.call(
                    "listVirtualMachines", ["listall": "true", "page": String(i % 10 + 1), "pagesize": "500"], as: ListPage<VirtualMachine>.self,
                    logger: logger)
                ours.append(ContinuousClock.now - t)
            }
            var curl: [Duration] = []
            for i in 0..<requests {
                let url = clients[i % clients.count].signedURL(
                    "listVirtualMachines", ["listall": "true", "page": String(i % 10 + 1), "pagesize": "500"])
                if let seconds = try curlTime(url) { curl.append(.seconds(seconds)) }
            }
            let p50o = Tools.percentile(ours, 0.5)
            let p99o = Tools.percentile(ours, 0.99)
            Console.line(
                "one page of 500 VMs (\(requests) requests)   mclouds client (fetch+decode): p50 \(Tools.format(p50o)) p99 \(Tools.format(p99o))")
            if !curl.isEmpty {
                let p50c = Tools.percentile(curl, 0.5)
                Console.line(
                    "                                           curl (fetch only):             p50 \(Tools.format(p50c)) p99 \(Tools.format(Tools.percentile(curl, 0.99)))"
                )
                Console.line(String(format: "ratio mclouds/curl at p50: %.2f", p50o / p50c))
            } else {
                Console.line("curl not found: no comparison")
            }
            Console.line("peak RSS: \(peakRSSMiB()) MiB")
        }
    }

    func curlTime(_ url: String) throws -> Double? {
        guard let curl = ["/usr/bin/curl", "/bin/curl"].first(where: FileManager.default.isExecutableFile(atPath:)) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: curl)
        process.arguments = ["-s", "-o", "/dev/null", "-w", "%{time_total}", url]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Double(String(decoding: data, as: UTF8.self))
    }

    func peakRSSMiB() -> Int { Tools.peakRSSMiB() }
}
