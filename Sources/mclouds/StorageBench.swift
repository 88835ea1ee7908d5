import ArgumentParser
import AsyncHTTPClient
import Core
import Foundation
import NIOCore
import NIOHTTP1
import Storage
import Synchronization
import TemplateRepository

/// The central service's throughput on its two storage backends: one server on SQLite, one and two servers on
/// one PostgreSQL database (the servers are child processes of this executable, sharing one data directory),
/// each under the same concurrent load of publishes, catalog reads, region lists and dashboard summaries.
struct StorageBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage",
        abstract: "Requests per second on SQLite (one server) and PostgreSQL (one and two servers): publish, catalog, regions, dashboard.",
        discussion: """
            PostgreSQL comes from --postgres-url (a server where the bench may create databases, e.g. \
            postgres://mclouds@127.0.0.1:5432/postgres); without it only SQLite is measured.
            """)

    @Option(help: "A PostgreSQL server URL whose user may CREATE DATABASE (a new database per run).") var postgresUrl: String?
    @Option(help: "Seconds each operation is driven.") var seconds = 5.0
    @Option(help: "Requests in flight at once, spread over the servers.") var concurrency = 16
    @Option(help: "Regions in the registry (the region list and dashboard summary carry them).") var regions = 20

    struct Setup: CustomStringConvertible {
        var name: String
        var instances: Int
        var postgres: Bool
        var description: String { name }
    }

    func run() async throws {
        var setups = [Setup(name: "SQLite, 1 server", instances: 1, postgres: false)]
        if postgresUrl != nil {
            setups += [
                Setup(name: "PostgreSQL, 1 server", instances: 1, postgres: true), Setup(name: "PostgreSQL, 2 servers", instances: 2, postgres: true),
            ]
        } else {
            Console.line("PostgreSQL skipped: give --postgres-url to measure it.")
        }
        let operations = ["publish", "catalog", "regions", "dashboard"]
        Console.line("\(concurrency) requests in flight, \(seconds) s per operation, \(regions) regions; requests per second:")
        Console.line(
            "setup".padding(toLength: 24, withPad: " ", startingAt: 0)
                + operations.map { $0.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined())
        var baseline: [String: Double] = [:]
        for setup in setups {
            let rates = try await measure(setup, operations: operations)
            if baseline.isEmpty { baseline = rates }
            let cells = operations.map { operation in
                let rate = rates[operation] ?? 0
                let ratio = setup.name == setups[0].name ? "" : String(format: " %.2f×", rate / max(baseline[operation] ?? 1, 0.001))
                return (String(format: "%.0f", rate) + ratio).padding(toLength: 12, withPad: " ", startingAt: 0)
            }
            Console.line(setup.name.padding(toLength: 24, withPad: " ", startingAt: 0) + cells.joined())
        }
    }

    /// Starts the setup's servers, fills them, drives each operation for `seconds` and stops them.
    func measure(_ setup: Setup, operations: [String]) async throws -> [String: Double] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mclouds-storage-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var database: [String] = []
        if setup.postgres, let admin = postgresUrl {
            database = ["--database-url", try await PostgresStore.createUniqueDatabase(prefix: "bench_", adminURL: admin)]
        }
        let token = BenchServer.randomToken()
        var servers: [BenchServer] = []
        defer { for server in servers { server.stop() } }
        for _ in 0..<setup.instances {
            servers.append(
                try await BenchServer(
                    arguments: [
                        "--data", directory.appendingPathComponent("data").path, "--collect-interval-minutes", "100000", "--region-timeout-seconds",
                        "1",
                        "--scrub-interval-hours", "0", "--log-level", "error",
                    ] + database, token: token))
        }
        let bases = servers.map(\.baseURL)
        // The registry (regions whose endpoints refuse at once), one collection, one published template.
        for id in 1...regions {
            let body = #"{"id": \#(id), "name": "R-\#(id)", "endpoint": "http://127.0.0.1:9/client/api", "apiKey": "K", "secretKey": "S"}"#
            _ = try await Self.send(.POST, bases[0] + "/api/v1/regions", token: token, body: Array(body.utf8))
        }
        _ = try await Self.send(.POST, bases[0] + "/api/v1/dashboard/collect", token: token)
        let images = directory.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let versions = Counts()
        @Sendable func publishOne(_ base: String) async throws {
            let index = versions.completed.add(1, ordering: .relaxed).newValue
            let file = images.appendingPathComponent("v\(index).qcow2")
            var generator = SplitMix64(seed: UInt64(index))
            try Data(QCOW2Header.stamped((0..<65_536).map { _ in UInt8.random(in: 0...255, using: &generator) })).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            _ = try await RemotePublisher(client: RepositoryClient(baseURL: base, token: token)).publish(
                imageAt: file.path,
                metadata: TemplateMetadata(name: "bench", version: "v\(index)", format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS"))
        }
        try await publishOne(bases[0])

        var rates: [String: Double] = [:]
        for operation in operations {
            let counts = Counts()
            let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<concurrency {
                    let base = bases[worker % bases.count]
                    group.addTask {
                        while ContinuousClock.now < deadline {
                            do {
                                switch operation {
                                case "publish": try await publishOne(base)
                                case "catalog": _ = try await Self.send(.GET, base + "/api/v1/catalog")
                                case "regions": _ = try await Self.send(.GET, base + "/api/v1/regions", token: token)  // admins only
                                default: _ = try await Self.send(.GET, base + "/api/v1/dashboard")
                                }
                                counts.completed.add(1, ordering: .relaxed)
                            } catch {
                                counts.failed.add(1, ordering: .relaxed)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = (ContinuousClock.now - started) / .seconds(1)
            if counts.failed.load(ordering: .relaxed) > 0 {
                Console.error("\(setup.name): \(counts.failed.load(ordering: .relaxed)) \(operation) requests failed")
            }
            rates[operation] = Double(counts.completed.load(ordering: .relaxed)) / elapsed
        }
        return rates
    }

    final class Counts: Sendable {
        let completed = Atomic(0)
        let failed = Atomic(0)
    }

    /// One request; anything but 2xx is an error.
    static func send(_ method: HTTPMethod, _ url: String, token: String? = nil, body: [UInt8]? = nil) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await HTTPClients.shared.execute(request, timeout: .seconds(60))
        _ = try await response.body.collect(upTo: 64 << 20)
        guard (200..<300).contains(response.status.code) else { throw CLIError("\(method) \(url): HTTP \(response.status.code)") }
        return Int(response.status.code)
    }
}
