import CloudStack
import CloudStackSimulator
import Core
import Foundation
import Server
import SyncAgent
import TemplateRepository
import TestSupport
import Testing

@Suite("mclouds agent")
struct AgentCommandTests {
    func mclouds(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, stdout: String) {
        let result = try await runMClouds(arguments, environment: environment)
        return (result.status, result.stdout)
    }

    @Test("`agent sync --config` brings the subscribed template to Ready in the simulator; `agent status --json` reports it; a bad config is refused")
    func syncCommand() async throws {
        let image = try randomImage(200_000)
        try await withPublishedServer(image: image) { central, repository, _, directory in
            var configuration = SimulatorConfiguration.default(regionName: "CLI-Site")
            configuration.jobDurationMilliseconds = 20
            try await Simulator.withRunning(configuration, logger: quietLogger) { simulator in
                let keys = simulator.adminKeys
                let agentDirectory = directory.appendingPathComponent("agent").path
                let yaml = """
                    central:
                      url: \(central.baseURL)
                      trustedKeys: ["\(repository.key.publicKey.base64)"]
                    cloudstack:
                      endpoint: \(simulator.endpoint)
                      apiKey: \(keys.apikey!)
                    subscriptions: ["ubu*"]
                    keepVersions: 2
                    site: Site-A
                    directory: \(agentDirectory)
                    """
                let file = directory.appendingPathComponent("agent.yaml")
                try Data(yaml.utf8).write(to: file)
                let environment = ["MCLOUDS_CLOUDSTACK_SECRET": keys.secretkey!, "MCLOUDS_AGENT_TOKEN": "admin-token"]
                // The chunk cache of an earlier release (images hold the chunks now) is removed.
                let legacy = directory.appendingPathComponent("agent/chunks/ab")
                try FileManager.default.createDirectory(at: legacy, withIntermediateDirectories: true)
                try Data([1]).write(to: legacy.appendingPathComponent(String(repeating: "ab", count: 32)))

                let sync = try await mclouds(["agent", "sync", "--config", file.path], environment: environment)
                #expect(sync.status == 0)
                #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("agent/chunks").path))
                #expect(sync.stdout.contains("ubuntu") && sync.stdout.contains("ready, featured"))
                let status = try await mclouds(["agent", "status", "--config", file.path, "--json"], environment: [:])
                let report = try JSONDecoder().decode(AgentStatus.self, from: Data(status.stdout.utf8))
                #expect(report.succeeded && report.outcomes.map(\.bytesDownloaded) == [200_000])

                // The report reached the central server: the rollout matrix shows the site's state.
                let matrix = try await mclouds(["template", "status", "--server", central.baseURL], environment: [:])
                #expect(matrix.status == 0 && matrix.stdout.contains("Site-A") && matrix.stdout.contains("ubuntu@1"))
                let rollout = try await RepositoryClient(baseURL: central.baseURL).rollout()
                #expect(rollout.states.map(\.site) == ["Site-A"] && rollout.states[0].state == "ready, featured")
                #expect(rollout.states[0].bytesDownloaded == 200_000)

                let client = CloudStackClient(
                    configuration: .init(endpoint: simulator.endpoint, apiKey: keys.apikey!, secretKey: keys.secretkey!, region: "CLI-Site"))
                let templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                #expect(templates.count == 1 && templates[0].isready == true)

                // `agent verify`: clean, then a flipped byte is found (exit 1) and repaired by re-fetching that chunk.
                let clean = try await mclouds(["agent", "verify", "--config", file.path], environment: environment)
                #expect(clean.status == 0 && clean.stdout.contains("ubuntu-1.qcow2"))
                let imagePath = directory.appendingPathComponent("agent/images/ubuntu-1.qcow2").path
                let handle = try #require(FileHandle(forUpdatingAtPath: imagePath))
                try handle.seek(toOffset: 100_000)
                try handle.write(contentsOf: Data([image[100_000] ^ 0x80]))
                try handle.close()
                let found = try await mclouds(["agent", "verify", "--config", file.path, "--json"], environment: environment)
                #expect(found.status == 1)
                #expect(try JSONDecoder().decode([ImageCache.Check].self, from: Data(found.stdout.utf8)).map(\.damaged) == [1])
                let repaired = try await mclouds(["agent", "verify", "--config", file.path, "--repair"], environment: environment)
                #expect(repaired.status == 0 && repaired.stdout.contains("ready, featured"))
                #expect(FileManager.default.contents(atPath: imagePath) == Data(image))

                let noSecret = try await mclouds(["agent", "sync", "--config", file.path], environment: ["MCLOUDS_CLOUDSTACK_SECRET": ""])
                #expect(noSecret.status != 0)
                try Data(yaml.replacingOccurrences(of: "keepVersions: 2", with: "keepVersions: 0").utf8).write(to: file)
                let bad = try await mclouds(["agent", "sync", "--config", file.path], environment: environment)
                #expect(bad.status != 0)
            }
        }
    }

    @Test("`agent run` makes a pass at start, then waits for its schedule, and stops cleanly on SIGTERM")
    func runService() async throws {
        try await withPublishedServer(image: try randomImage(50_000)) { central, repository, _, directory in
            var configuration = SimulatorConfiguration.default(regionName: "Run-Site")
            configuration.jobDurationMilliseconds = 20
            try await Simulator.withRunning(configuration, logger: quietLogger) { simulator in
                let keys = simulator.adminKeys
                let agentDirectory = directory.appendingPathComponent("agent")
                let yaml = """
                    central: {url: "\(central.baseURL)", trustedKeys: ["\(repository.key.publicKey.base64)"]}
                    cloudstack: {endpoint: "\(simulator.endpoint)", apiKey: "\(keys.apikey!)"}
                    directory: \(agentDirectory.path)
                    schedule: {intervalMinutes: 60}
                    """
                let file = directory.appendingPathComponent("agent.yaml")
                try Data(yaml.utf8).write(to: file)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: mcloudsExecutable())
                process.arguments = ["agent", "run", "--config", file.path]
                process.environment = ProcessInfo.processInfo.environment.merging(["MCLOUDS_CLOUDSTACK_SECRET": keys.secretkey!]) { $1 }
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                let exited = AsyncStream.makeStream(of: Int32.self)
                process.terminationHandler = { exited.continuation.yield($0.terminationStatus) }
                try process.run()
                let statusFile = agentDirectory.appendingPathComponent("status.json").path
                for _ in 0..<600 where !FileManager.default.fileExists(atPath: statusFile) { try await Task.sleep(for: .milliseconds(50)) }
                let status = try JSONDecoder().decode(AgentStatus.self, from: try #require(FileManager.default.contents(atPath: statusFile)))
                #expect(status.succeeded)
                #expect(process.isRunning)
                process.terminate()
                var code: Int32 = -1
                for await c in exited.stream {
                    code = c
                    break
                }
                #expect(code == 0)
            }
        }
    }
}
