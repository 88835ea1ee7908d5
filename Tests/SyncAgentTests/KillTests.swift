import CloudStack
import CloudStackSimulator
import Core
import Crypto
import Foundation
import Server
import SyncAgent
import TemplateRepository
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Site agent: kill -9 at random points")
struct KillTests {
    @Test("kill -9 of `agent sync` at 10 random points: every restart converges, the cache only grows, never a duplicate or unverified template")
    func killAtRandomPoints() async throws {
        let image = try randomImage(600_000)
        try await withPublishedServer(image: image) { central, repository, manifest, directory in
            var configuration = SimulatorConfiguration.default(regionName: "Kill-Site")
            configuration.jobDurationMilliseconds = 50
            var faults = FaultConfiguration()
            faults.downloadBytesPerSecond = 400_000  // registrations take a while, so kills land inside them too
            configuration.faults = faults
            try await Simulator.withRunning(configuration, logger: quietLogger) { simulator in
                let keys = simulator.adminKeys
                let agentDirectory = directory.appendingPathComponent("agent")
                let yaml = """
                    central: {url: "\(central.baseURL)", trustedKeys: ["\(repository.key.publicKey.base64)"]}
                    cloudstack: {endpoint: "\(simulator.endpoint)", apiKey: "\(keys.apikey!)"}
                    directory: \(agentDirectory.path)
                    parallelDownloads: 2
                    """
                let file = directory.appendingPathComponent("agent.yaml")
                try Data(yaml.utf8).write(to: file)
                let environment = ProcessInfo.processInfo.environment.merging(["MCLOUDS_CLOUDSTACK_SECRET": keys.secretkey!]) { $1 }
                let client = CloudStackClient(
                    configuration: .init(endpoint: simulator.endpoint, apiKey: keys.apikey!, secretKey: keys.secretkey!, region: "Kill-Site"))
                let cache = try FileChunkStore(dataDirectory: agentDirectory)
                var cached = Set<String>()
                var generator = SystemRandomNumberGenerator()
                for round in 0..<10 {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: mcloudsExecutable())
                    process.arguments = ["agent", "sync", "--config", file.path]
                    process.environment = environment
                    process.standardOutput = FileHandle.nullDevice
                    process.standardError = FileHandle.nullDevice
                    try process.run()
                    let delay = UInt32.random(in: 50_000...1_500_000, using: &generator)
                    let pid = process.processIdentifier
                    let killer = Thread {
                        usleep(delay)
                        kill(pid, SIGKILL)
                    }
                    killer.start()
                    while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }

                    // Never a duplicate, never an unverified template; the verified cache only grows.
                    let templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                    let ids = Set(templates.compactMap(\.id))
                    #expect(ids.count <= 1, "round \(round): \(ids.count) templates registered")
                    for template in templates { #expect(template.checksum?.hasSuffix(manifest.sha256) == true) }
                    let now = Set(try cache.allDigests())
                    #expect(cached.isSubset(of: now), "round \(round): a verified chunk left the cache")
                    for digest in now { #expect(try SHA256.hash(data: cache.get(digest)).hexString == digest) }
                    cached = now
                }

                let final = try await runMClouds(
                    ["agent", "sync", "--config", file.path], environment: ["MCLOUDS_CLOUDSTACK_SECRET": keys.secretkey!])
                #expect(final.status == 0)
                let templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                #expect(templates.count == 1 && templates[0].isready == true)
                let assembled = agentDirectory.appendingPathComponent("images/ubuntu-1.qcow2").path
                #expect(FileManager.default.contents(atPath: assembled).map { SHA256.hash(data: $0).hexString } == manifest.sha256)
                // Nothing half-done is left behind: no half-assembled image, no chunk temporaries.
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: agentDirectory.appendingPathComponent("images").path)
                #expect(leftovers == ["ubuntu-1.qcow2"])
                let chunkFolders = try FileManager.default.contentsOfDirectory(atPath: cache.root.path)
                let temporaries = try chunkFolders.flatMap { try FileManager.default.contentsOfDirectory(atPath: cache.root.path + "/" + $0) }
                    .filter { $0.hasPrefix(".tmp-") }
                #expect(temporaries.isEmpty)
            }
        }
    }
}
