import ArgumentParser
import AsyncHTTPClient
import CloudStack
import CloudStackSimulator
import Core
import Dashboard
import Federation
import Foundation
import Logging
import NIOCore
import Server
import ServiceLifecycle

/// `mclouds bench dashboard`: one collection across many simulated regions (wall time, peak RSS), then
/// the dashboard page and `/metrics` under `wrk`.
struct DashboardBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "One dashboard collection across many simulated regions; the page and /metrics under wrk.",
        discussion: "  mclouds bench dashboard --regions 50 --hosts 200 --vms 5000")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Simulated regions.") var regions = 50
    @Option(help: "Hosts per region.") var hosts = 200
    @Option(help: "VMs per region.") var vms = 5_000
    @Option(help: "Regions collected at once.") var parallel = 8
    @Option(help: "Seconds of wrk load per endpoint (0 skips).") var wrkSeconds = 10
    @Option(help: "wrk connections.") var connections = 16

    func run() async throws {
        var logger = global.makeLogger(label: "mclouds.bench")
        logger.logLevel = .warning
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mclouds-bench-dashboard-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let simulators = try (0..<regions).map { i in
            var c = SimulatorConfiguration.default(regionName: "bench-\(i + 1)")
            c.regionID = i + 1
            c.zones[0].hostCount = hosts
            c.zones[0].guestCIDR = "10.1.0.0/16"
            c.seedVirtualMachines = vms
            return try Simulator(configuration: c, logger: logger)
        }
        let data = DataDirectory(root.path)
        let repository = try await data.openRepository(logger: logger)
        var collection = DashboardCollector.Configuration()
        collection.parallel = parallel
        collection.interval = .seconds(86_400)
        let federation = try await data.openFederation(collector: collection, logger: logger)
        let server = MCloudsServer(configuration: .init(port: 0), repository: repository, federation: federation, logger: logger)
        // Stopped gracefully at the end (a cancelled server logs errors on its way out).
        let services: [any Service] = simulators + [server]
        try await ServiceScope.withRunning(services, logger: logger, ready: { for s in simulators { _ = await s.waitUntilRunning() } }) {
            for s in simulators {
                try await federation.registry.add(
                    FederationRegion(
                        id: s.configuration.regionID, name: s.configuration.regionName, endpoint: s.endpoint, apiKey: s.adminKeys.apikey!),
                    secretKey: s.adminKeys.secretkey!)
            }
            let port = await server.waitUntilRunning()
            Console.line("regions: \(regions), hosts/region: \(hosts), VMs/region: \(vms); \(parallel) regions collected at once")
            Console.line("simulators up; peak RSS so far \(Tools.peakRSSMiB()) MiB (simulators included)")
            let started = ContinuousClock.now
            let report = try await federation.collector.collectNow()
            let wall = (ContinuousClock.now - started) / .seconds(1)
            let summary = try await federation.collector.summary()
            Console.line(
                String(
                    format: "one collection: %.2f s wall, %d regions, %d failed; %d hosts, %d VMs counted; peak RSS %d MiB (whole process)", wall,
                    report.regions, report.failed.count, summary.hosts, summary.virtualMachines, Tools.peakRSSMiB()))
            if wrkSeconds > 0 {
                for path in ["/", "/metrics", "/api/v1/dashboard"] {
                    let size = try await HTTPClients.shared.execute(.init(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(60)).body
                        .collect(upTo: 1 << 30).readableBytes
                    Console.line("\(path): \(ByteCount.format(Int64(size))) per answer")
                    Console.line("wrk \(path): " + (try Self.wrk("http://127.0.0.1:\(port)\(path)", seconds: wrkSeconds, connections: connections)))
                }
            }
        }
    }

    /// Requests per second and p99 latency from `wrk --latency`.
    static func wrk(_ url: String, seconds: Int, connections: Int) throws -> String {
        guard let wrk = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            return "wrk not installed (apt-get install wrk)"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrk)
        process.arguments = ["-t2", "-c\(connections)", "-d\(seconds)s", "--latency", url]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let rps = lines.first { $0.hasPrefix("Requests/sec:") }?.split(separator: " ").last ?? "?"
        let p50 = lines.first { $0.hasPrefix("50%") }?.split(separator: " ").last ?? "?"
        let p99 = lines.first { $0.hasPrefix("99%") }?.split(separator: " ").last ?? "?"
        let errors = lines.first { $0.hasPrefix("Non-2xx") || $0.hasPrefix("Socket errors") }.map { "; \($0)" } ?? ""
        return "\(rps) requests/s, p50 \(p50), p99 \(p99) (\(connections) connections, \(seconds) s)\(errors)"
    }
}
