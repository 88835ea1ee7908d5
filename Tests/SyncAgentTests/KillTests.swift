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
    /// The chunks of `manifest` in place (hashing right) in the agent's image, assembled or partial.
    func verifiedChunks(_ manifest: TemplateManifest, in images: URL) -> Set<String> {
        let image = images.appendingPathComponent("ubuntu-1.qcow2").path
        guard let bytes = FileManager.default.contents(atPath: image) ?? FileManager.default.contents(atPath: image + ".partial") else { return [] }
        var verified = Set<String>()
        for chunk in manifest.chunks where Int(chunk.offset) + chunk.length <= bytes.count {
            let range = Int(chunk.offset)..<(Int(chunk.offset) + chunk.length)
            if SHA256.hash(data: bytes[range]).hexString == chunk.digest { verified.insert(chunk.digest) }
        }
        return verified
    }

    @Test(
        "kill -9 of `agent sync` at 10 random points: every restart converges, no verified chunk is fetched again, never a duplicate or unverified template"
    )
    func killAtRandomPoints() async throws {
        let image = try randomImage(1_200_000)
        try await withPublishedServer(image: image) { central, repository, manifest, directory in
            var configuration = SimulatorConfiguration.default(regionName: "Kill-Site")
            configuration.jobDurationMilliseconds = 50
            // 1.2 MB at 1 Mbit/s take about ten seconds: the first kills land while chunks arrive, later ones in registration.
            var faults = FaultConfiguration()
            faults.downloadBytesPerSecond = 400_000  // registrations take a while, so kills land inside them too
            configuration.faults = faults
            let proxy = CountingProxy(target: central.baseURL)
            try await proxy.withRunning { centralURL in
                try await Simulator.withRunning(configuration, logger: quietLogger) { simulator in
                    let keys = simulator.adminKeys
                    let agentDirectory = directory.appendingPathComponent("agent")
                    let images = agentDirectory.appendingPathComponent("images")
                    let yaml = """
                        central: {url: "\(centralURL)", trustedKeys: ["\(repository.key.publicKey.base64)"]}
                        cloudstack: {endpoint: "\(simulator.endpoint)", apiKey: "\(keys.apikey!)"}
                        directory: \(agentDirectory.path)
                        parallelDownloads: 2
                        bandwidthLimitMbit: 1
                        """
                    let file = directory.appendingPathComponent("agent.yaml")
                    try Data(yaml.utf8).write(to: file)
                    let environment = ProcessInfo.processInfo.environment.merging(["MCLOUDS_CLOUDSTACK_SECRET": keys.secretkey!]) { $1 }
                    let client = CloudStackClient(
                        configuration: .init(endpoint: simulator.endpoint, apiKey: keys.apikey!, secretKey: keys.secretkey!, region: "Kill-Site"))
                    var verified = Set<String>()
                    var generator = SystemRandomNumberGenerator()
                    for round in 0..<10 {
                        let asked = proxy.chunkRequests.count
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

                        // Never a duplicate, never an unverified template.
                        let templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                        let ids = Set(templates.compactMap(\.id))
                        #expect(ids.count <= 1, "round \(round): \(ids.count) templates registered")
                        for template in templates { #expect(template.checksum?.hasSuffix(manifest.sha256) == true) }
                        // No chunk verified before this run was asked for again, and verified chunks stay.
                        let refetched = Set(proxy.chunkRequests[asked...]).intersection(verified)
                        #expect(refetched.isEmpty, "round \(round): \(refetched.count) verified chunks fetched again")
                        let now = verifiedChunks(manifest, in: images)
                        #expect(verified.isSubset(of: now), "round \(round): a verified chunk was lost")
                        verified = now
                    }

                    let asked = proxy.chunkRequests.count
                    let final = try await runMClouds(
                        ["agent", "sync", "--config", file.path], environment: ["MCLOUDS_CLOUDSTACK_SECRET": keys.secretkey!])
                    #expect(final.status == 0)
                    #expect(Set(proxy.chunkRequests[asked...]).intersection(verified).isEmpty)
                    let templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                    #expect(templates.count == 1 && templates[0].isready == true)
                    let assembled = images.appendingPathComponent("ubuntu-1.qcow2").path
                    #expect(FileManager.default.contents(atPath: assembled).map { SHA256.hash(data: $0).hexString } == manifest.sha256)
                    // Nothing half-done is left behind: the image and its manifest only, no partial chunks.
                    let leftovers = try FileManager.default.contentsOfDirectory(atPath: images.path)
                    #expect(Set(leftovers) == ["ubuntu-1.qcow2", "ubuntu-1.qcow2.manifest"])
                    let partialChunks = try FileManager.default.contentsOfDirectory(atPath: agentDirectory.appendingPathComponent("partial").path)
                    #expect(partialChunks.isEmpty)
                }
            }
        }
    }
}
