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

    /// Where a round's kill is aimed.
    enum KillPoint: CustomStringConvertible {
        /// After a random delay from the start (mostly while chunks arrive).
        case after(microseconds: UInt32)
        /// Within the 300 ms the simulator holds back `registerTemplate`'s answer: the registration exists, its tags do not.
        case registering(microseconds: UInt32)
        /// While CloudStack downloads the image from the agent.
        case downloading(microseconds: UInt32)

        var description: String {
            switch self {
            case .after(let us): "after \(us / 1000) ms"
            case .registering(let us): "\(us / 1000) ms into registerTemplate"
            case .downloading(let us): "\(us / 1000) ms into CloudStack's download"
            }
        }
    }

    @Test(
        "kill -9 of `agent sync` at 24 seeded random points, registration included: every restart keeps its verified chunks; one unkilled pass leaves exactly one tagged Ready registration"
    )
    func killAtRandomPoints() async throws {
        let seed = ProcessInfo.processInfo.environment["MCLOUDS_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        var generator = SplitMix64(seed: seed)  // a failing run prints its seed; MCLOUDS_TEST_SEED replays it
        var points: [KillPoint] = (0..<8).map { _ in .after(microseconds: UInt32.random(in: 50_000...1_500_000, using: &generator)) }
        for index in 0..<16 {
            let delay = UInt32.random(in: 0...250_000, using: &generator)
            switch index % 4 {
            case 0, 2: points.append(.registering(microseconds: delay))
            case 1: points.append(.downloading(microseconds: delay * 2))
            default: points.append(.after(microseconds: UInt32.random(in: 50_000...1_500_000, using: &generator)))
            }
        }
        // Larger than what loopback socket buffers hold, so that a kill cuts CloudStack's download short.
        let image = try randomImage(16_000_000)
        try await withPublishedServer(image: image) { central, repository, manifest, directory in
            var configuration = SimulatorConfiguration.default(regionName: "Kill-Site")
            configuration.jobDurationMilliseconds = 50
            // 16 MB at 40 Mbit/s take about three seconds: the first kills land while chunks arrive, later ones in registration.
            var faults = FaultConfiguration()
            faults.downloadBytesPerSecond = 2_000_000  // CloudStack's download takes eight seconds, so kills land inside it
            faults.answerDelayMilliseconds = ["registerTemplate": 300]
            configuration.faults = faults
            let proxy = CountingProxy(target: central.baseURL)
            try await proxy.withRunning { centralURL in
                try await Simulator.withRunning(configuration, logger: quietLogger) { simulator in
                    let keys = simulator.adminKeys
                    let (file, agentDirectory) = try writeSlowAgentConfiguration(
                        central: centralURL, trustedKey: repository.key.publicKey.base64, simulator: simulator, in: directory)
                    let images = agentDirectory.appendingPathComponent("images")
                    let environment = ProcessInfo.processInfo.environment.merging(["MCLOUDS_CLOUDSTACK_SECRET": keys.secretkey!]) { $1 }
                    let client = CloudStackClient(
                        configuration: .init(endpoint: simulator.endpoint, apiKey: keys.apikey!, secretKey: keys.secretkey!, region: "Kill-Site"))
                    func agentTemplates() async throws -> [Template] { try await client.listTemplates(filter: .self, logger: quietLogger) }
                    var verified = Set<String>()
                    var untaggedSeen = 0
                    var downloadsKilled = 0
                    for (round, point) in points.enumerated() {
                        let context = "seed \(seed), round \(round) (\(point))"
                        let asked = proxy.chunkRequests.count
                        let before = Set(try await agentTemplates().compactMap(\.id))
                        let process = Process()
                        process.executableURL = URL(fileURLWithPath: mcloudsExecutable())
                        process.arguments = ["agent", "sync", "--config", file.path]
                        process.environment = environment
                        process.standardOutput = FileHandle.nullDevice
                        process.standardError = FileHandle.nullDevice
                        try process.run()
                        let pid = process.processIdentifier
                        func killAfter(_ microseconds: UInt32) {
                            usleep(microseconds)
                            kill(pid, SIGKILL)
                        }
                        switch point {
                        case .after(let delay):
                            killAfter(delay)
                        case .registering(let delay):
                            // Once a new registration appears (its answer is still held back).
                            while process.isRunning, try await agentTemplates().allSatisfy({ before.contains($0.id ?? "") }) {
                                try await Task.sleep(for: .milliseconds(5))
                            }
                            killAfter(delay)
                        case .downloading(let delay):
                            // Once a tagged registration is downloading.
                            while process.isRunning,
                                !(try await agentTemplates().contains {
                                    $0.isready != true && !($0.tags ?? []).isEmpty && !($0.status ?? "").contains("rror")
                                })
                            {
                                try await Task.sleep(for: .milliseconds(5))
                            }
                            if process.isRunning { downloadsKilled += 1 }
                            killAfter(delay)
                        }
                        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }

                        let templates = try await agentTemplates()
                        if templates.contains(where: { ($0.tags ?? []).isEmpty }) { untaggedSeen += 1 }
                        // What a dead pass left is bounded: the version's copy and at most one it had not cleaned up yet.
                        #expect(templates.count <= 2, "\(context): \(templates.count) registrations")
                        for template in templates { #expect(template.checksum?.hasSuffix(manifest.sha256) == true, "\(context)") }
                        // No chunk verified before this run was asked for again, and verified chunks stay.
                        let refetched = Set(proxy.chunkRequests[asked...]).intersection(verified)
                        #expect(refetched.isEmpty, "\(context): \(refetched.count) verified chunks fetched again")
                        let now = verifiedChunks(manifest, in: images)
                        #expect(verified.isSubset(of: now), "\(context): a verified chunk was lost")
                        verified = now
                    }
                    // The kills reached into registration: some left a registration untagged, some cut CloudStack's download.
                    #expect(untaggedSeen > 0, "seed \(seed): no kill landed between registerTemplate and createTags")
                    #expect(downloadsKilled > 0, "seed \(seed): no kill landed in CloudStack's download")

                    let asked = proxy.chunkRequests.count
                    let final = try await runMClouds(
                        ["agent", "sync", "--config", file.path], environment: ["MCLOUDS_CLOUDSTACK_SECRET": keys.secretkey!])
                    #expect(final.status == 0, "seed \(seed): \(final.stdout) \(final.stderr)")
                    #expect(Set(proxy.chunkRequests[asked...]).intersection(verified).isEmpty)
                    let templates = try await agentTemplates()
                    #expect(
                        templates.count == 1 && templates[0].isready == true, "seed \(seed): \(templates.map { ($0.name ?? "", $0.status ?? "") })")
                    #expect(templates.first.map { ($0.tags ?? []).count } == 3, "seed \(seed): the registration is not tagged")
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
