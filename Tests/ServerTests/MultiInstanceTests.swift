import CloudStack
import CloudStackSimulator
import Core
import Dashboard
import Foundation
import Logging
import NIOHTTP1
import Storage
import Synchronization
import TemplateRepository
import TestSupport
import Testing

/// Real `mclouds server` processes sharing one data directory and one database: two on PostgreSQL behave as one
/// service; one on SQLite takes the same load.
@Suite("Several servers on one database")
struct MultiInstanceTests {
    static let token = "multi-instance-admin-token"
    static let admin = [("Authorization", "Bearer \(token)")]

    @Test(
        "two servers on one PostgreSQL with three regions: each region collected once per period; kill -9 of the lease holder → the other collects within one lease time",
        .enabled(if: TestDatabase.available.contains(.postgres)), .timeLimit(.minutes(3)))
    func collectorAcrossInstances() async throws {
        try await withTemporaryDirectory { directory in
            let url = try await TestDatabase.newPostgresDatabase()
            let data = directory.appendingPathComponent("data")
            let interval = 3.0  // seconds: --collect-interval-minutes 0.05
            let regionTimeout = 4.0
            let leaseTime = 1.5 * interval + regionTimeout
            try await Simulator.withRunning(Self.simulatorConfiguration(1, "MECA-PolITO"), logger: Self.quietLogger) { a in
                try await Simulator.withRunning(Self.simulatorConfiguration(6, "MECA-TUS"), logger: Self.quietLogger) { b in
                    try await Simulator.withRunning(Self.simulatorConfiguration(3, "MECA-BME"), logger: Self.quietLogger) { c in
                        let regions = [a, b, c]
                        // Registered with the CLI straight into the PostgreSQL database, as an operator would.
                        for region in regions {
                            let added = try await runMClouds(
                                [
                                    "region", "add", "--data", data.path, "--database-url", url, "--id", "\(region.configuration.regionID)",
                                    "--name", region.configuration.regionName, "--endpoint", region.endpoint, "--api-key",
                                    region.adminKeys.apikey!,
                                ], environment: ["MCLOUDS_REGION_SECRET": region.adminKeys.secretkey!])
                            #expect(added.status == 0, "\(added.stderr)")
                        }
                        let servers = try await ServerProcess.servers(
                            2, data: data, database: url, token: Self.token, in: directory,
                            ["--collect-interval-minutes", "\(interval / 60)", "--region-timeout-seconds", "\(regionTimeout)"])
                        defer { for server in servers { kill(server.pid, SIGKILL) } }
                        let watched = ContinuousClock.now
                        try await Task.sleep(for: .seconds(4 * interval + 1))

                        // Once per period: the collections of each region are at least a period apart (two collectors
                        // would interleave), and every region was collected as often as the others.
                        let counts = regions.map { $0.requestTimes(for: "listCapabilities").filter { $0 > watched }.count }
                        #expect(counts.allSatisfy { $0 >= 3 && $0 <= 6 } && Set(counts).count <= 2, "\(counts)")
                        for region in regions {
                            // From when both servers run (the CLI's registration checks the region too, just before).
                            let times = region.requestTimes(for: "listCapabilities").filter { $0 > watched }
                            let gaps = zip(times.dropFirst(), times).map { ($0 - $1) / .seconds(1) }
                            #expect(gaps.allSatisfy { $0 >= interval * 0.9 }, "\(region.configuration.regionName): \(gaps)")
                        }

                        // kill -9 of the holder: the other takes the lease over (the fence grows) and collects.
                        let leases = LeaseStore(store: try await PostgresStore.open(.init(url: url, poolSize: 1), migrations: []))
                        let lease = try #require(try await leases.current(DashboardCollector.leaseName))
                        let holder = try #require(servers.first { lease.holder.contains("-\($0.pid)-") }, "\(lease.holder)")
                        let survivor = try #require(servers.first { $0.pid != holder.pid })
                        await holder.kill9()
                        let killed = ContinuousClock.now
                        var collectedAfter: Duration?
                        while ContinuousClock.now - killed < .seconds(leaseTime + 2 * interval + 10) {
                            if let first = a.requestTimes(for: "listCapabilities").first(where: { $0 > killed }) {
                                collectedAfter = first - killed
                                break
                            }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                        let after = try #require(collectedAfter, "nobody collected after the holder died")
                        // Within one lease time, plus two periods of slack for a loaded machine.
                        #expect(after / .seconds(1) <= leaseTime + 2 * interval, "\(after)")
                        let taken = try #require(try await leases.current(DashboardCollector.leaseName))
                        #expect(taken.holder.contains("-\(survivor.pid)-") && taken.fence == lease.fence + 1, "\(taken)")
                        await survivor.stop()
                    }
                }
            }
        }
    }

    /// 50 requests at once, spread over `bases`: 14 publishes of new versions, the same version published twice,
    /// 10 region adds, 6 edits of one region, 18 site reports; a reader watches every instance's catalog serial.
    static func mixedLoad(_ bases: [String], directory: URL) async throws {
        func base(_ index: Int) -> String { bases[index % bases.count] }
        // Before the burst: a version the site reports name, and the region the edits change.
        let seed = RemotePublisher(client: RepositoryClient(baseURL: bases[0], token: token))
        _ = try await seed.publish(imageAt: try writeFile(bytes(20_000, seed: 500), in: directory), metadata: sampleMetadata("base", "1"))
        let region = #"{"id": 99, "name": "R-99", "endpoint": "https://cloud99.example/client/api", "apiKey": "K", "secretKey": "S"}"#
        #expect(try await http(.POST, bases[0] + "/api/v1/regions", headers: admin, body: Array(region.utf8)).status == 201)
        let images = try (0..<14).map { try writeFile(bytes(20_000, seed: 600 + UInt64($0)), in: directory) }
        let duplicate = try writeFile(bytes(20_000, seed: 700), in: directory)

        enum Kind: String { case publish, duplicate, regionAdd, regionEdit, siteReport }
        let serials = Mutex<[String: [Int]]>([:])
        let done = Atomic(false)
        let reader = Task {
            while !done.load(ordering: .relaxed) {
                for base in bases {
                    let catalog = try await http(.GET, base + "/api/v1/catalog")
                    if let serial = catalog.json?["signed"]?["serial"]?.intValue { serials.withLock { $0[base, default: []].append(Int(serial)) } }
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let outcomes = try await withThrowingTaskGroup(of: (Kind, Int, Int?, Double).self) { group in
            func add(_ kind: Kind, _ index: Int, _ body: @escaping @Sendable () async throws -> (Int, Int?)) {
                group.addTask {
                    let started = ContinuousClock.now
                    let (status, serial) = try await body()
                    return (kind, status, serial, (ContinuousClock.now - started) / .seconds(1))
                }
            }
            var index = 0
            func next() -> Int {
                index += 1
                return index
            }
            @Sendable func publish(_ path: String, _ version: String, via base: String) async throws -> (Int, Int?) {
                do {
                    let report = try await RemotePublisher(client: RepositoryClient(baseURL: base, token: token)).publish(
                        imageAt: path, metadata: sampleMetadata("mix", version))
                    return (report.alreadyPublished ? 200 : 201, report.alreadyPublished ? nil : report.catalogSerial)
                } catch let error as RepositoryClientError {
                    return (error.status ?? -1, nil)
                }
            }
            for (version, path) in images.enumerated() {
                let via = base(next())
                add(.publish, version) { try await publish(path, "v\(version)", via: via) }
            }
            for copy in 0..<2 {
                let via = base(next())
                add(.duplicate, copy) { try await publish(duplicate, "dup", via: via) }
            }
            for id in 100..<110 {
                let via = base(next())
                add(.regionAdd, id) {
                    let body =
                        #"{"id": \#(id), "name": "R-\#(id)", "endpoint": "https://cloud\#(id).example/client/api", "apiKey": "K", "secretKey": "S"}"#
                    return (try await http(.POST, via + "/api/v1/regions", headers: admin, body: Array(body.utf8)).status, nil)
                }
            }
            for edit in 0..<6 {
                let via = base(next())
                add(.regionEdit, edit) {
                    let body = #"{"contact": "ops\#(edit)@cloud99.example"}"#
                    return (try await http(.PATCH, via + "/api/v1/regions/99", headers: admin, body: Array(body.utf8)).status, nil)
                }
            }
            for site in 1...18 {
                let via = base(next())
                add(.siteReport, site) {
                    let body = SiteReportTests.report(template: "base", version: "1")
                    return (try await http(.POST, via + "/api/v1/sites/S-\(site)/report", headers: admin, body: body).status, nil)
                }
            }
            #expect(index == 50)
            return try await group.reduce(into: []) { $0.append($1) }
        }
        done.store(true, ordering: .relaxed)
        _ = await reader.result

        // Every answer a success (the second copy of one version: "already published"); none a 500.
        let failures = outcomes.filter { kind, status, _, _ in
            switch kind {
            case .publish, .regionAdd: status != 201
            case .duplicate: status != 201 && status != 200
            case .regionEdit, .siteReport: status != 200
            }
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(outcomes.filter { $0.0 == .duplicate }.map(\.1).sorted() == [200, 201], "\(outcomes.filter { $0.0 == .duplicate })")
        // No request waited for SQLite's busy timeout (30 s), nor anything like it.
        let slowest = outcomes.map(\.3).max() ?? 0
        #expect(slowest < 20, "slowest request: \(slowest) s")

        // Nothing lost, nothing duplicated, on every instance.
        for base in bases {
            let templates = try await RepositoryClient(baseURL: base).templates().templates
            let mix = try #require(templates.first { $0.name == "mix" })
            #expect(Set(mix.versions.map(\.version)) == Set((0..<14).map { "v\($0)" } + ["dup"]) && mix.versions.count == 15)
            let regions = try await http(.GET, base + "/api/v1/regions", headers: admin).json?.arrayValue?.compactMap { $0["id"]?.intValue } ?? []
            #expect(Set(regions) == Set([99] + Array(100..<110)) && regions.count == 11, "\(regions)")
            let edited = try await http(.GET, base + "/api/v1/regions/99", headers: admin).json?["contact"]?.stringValue ?? ""
            #expect((0..<6).map { "ops\($0)@cloud99.example" }.contains(edited), "\(edited)")
            let sites = try await RepositoryClient(baseURL: base).rollout().states.map(\.site)
            #expect(Set(sites) == Set((1...18).map { "S-\($0)" }), "\(sites)")
        }
        // Each new version got a serial of its own, and every instance's catalog serial only grew.
        let newSerials = outcomes.compactMap(\.2)
        #expect(newSerials.count == 15 && Set(newSerials).count == 15, "\(newSerials.sorted())")
        for (base, seen) in serials.withLock({ $0 }) {
            #expect(zip(seen, seen.dropFirst()).allSatisfy { $0 <= $1 }, "\(base): \(seen)")
        }
    }

    @Test(
        "50 concurrent publishes, region edits and site reports over two servers on one PostgreSQL: nothing lost or duplicated, no 500, the serial only grows",
        .enabled(if: TestDatabase.available.contains(.postgres)), .timeLimit(.minutes(3)))
    func mixedLoadOnPostgres() async throws {
        try await withTemporaryDirectory { directory in
            let url = try await TestDatabase.newPostgresDatabase()
            let servers = try await ServerProcess.servers(
                2, data: directory.appendingPathComponent("data"), database: url, token: Self.token, in: directory)
            defer { for server in servers { kill(server.pid, SIGKILL) } }
            try await Self.mixedLoad(servers.map(\.baseURL), directory: directory)
            for server in servers { await server.stop() }
        }
    }

    @Test("the same 50 concurrent requests against one server on SQLite: none fails, none waits for the busy timeout", .timeLimit(.minutes(3)))
    func mixedLoadOnSQLite() async throws {
        try await withTemporaryDirectory { directory in
            let servers = try await ServerProcess.servers(
                1, data: directory.appendingPathComponent("data"), database: nil, token: Self.token, in: directory)
            defer { for server in servers { kill(server.pid, SIGKILL) } }
            try await Self.mixedLoad(servers.map(\.baseURL), directory: directory)
            await servers[0].stop()
        }
    }
}

extension MultiInstanceTests {
    static var quietLogger: Logger {
        var logger = Logger(label: "test.multi-instance")
        logger.logLevel = .error
        return logger
    }

    /// A small simulated region with the alliance's id and name.
    static func simulatorConfiguration(_ id: Int, _ name: String) -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration.default(regionName: name)
        configuration.regionID = id
        configuration.zones[0].hostCount = 2
        configuration.jobDurationMilliseconds = 20
        return configuration
    }
}
