import CloudStack
import CloudStackSimulator
import Core
import Crypto
import Foundation
import SyncAgent
import TemplateRepository
import Testing

/// What interrupted or failing registrations leave in CloudStack, and how one pass heals it.
@Suite("Site agent: registrations that a crash or CloudStack left half-done")
struct RegistrationFaultTests {
    func agentTemplates(_ client: CloudStackClient) async throws -> [Template] {
        try await client.listTemplates(filter: .self, logger: quietLogger)
    }

    func tags(_ template: Template) -> [String: String] {
        Dictionary(uniqueKeysWithValues: (template.tags ?? []).compactMap { t in t.key.map { ($0, t.value ?? "") } })
    }

    @Test("createTags failing: no pass leaves a registration behind; once it works, one pass ends with one tagged Ready registration")
    func createTagsFailing() async throws {
        try await withPublishedServer(image: try randomImage(60_000)) { central, repository, manifest, directory in
            try await withSite(central: central, repository: repository, directory: directory) { simulator, client, pass in
                var faults = FaultConfiguration()
                faults.errorRate = ["createTags": 1]
                simulator.setFaults(faults)
                for _ in 0..<3 {
                    await #expect(throws: CloudStackError.self) { try await pass.run() }
                    #expect(try await agentTemplates(client).isEmpty)
                }
                simulator.setFaults(FaultConfiguration())
                #expect(try await pass.run().map(\.state) == ["ready, featured"])
                let templates = try await agentTemplates(client)
                #expect(templates.count == 1 && templates[0].isready == true)
                #expect(tags(templates[0])["mclouds.digest"] == manifest.sha256)
            }
        }
    }

    @Test("createTags and deleteTemplate failing leave one untagged registration, not one per pass; the next pass adopts it and removes a spare")
    func untaggedAdopted() async throws {
        try await withPublishedServer(image: try randomImage(60_000)) { central, repository, manifest, directory in
            try await withSite(central: central, repository: repository, directory: directory) { simulator, client, pass in
                var faults = FaultConfiguration()
                faults.errorRate = ["createTags": 1, "deleteTemplate": 1]
                simulator.setFaults(faults)
                for _ in 0..<3 { await #expect(throws: CloudStackError.self) { try await pass.run() } }
                var orphans = try await agentTemplates(client)
                #expect(orphans.count == 1 && orphans.allSatisfy { ($0.tags ?? []).isEmpty })
                let name = CloudStackRegistrar.registrationName(template: "ubuntu", version: "1", digest: manifest.sha256)
                #expect(orphans.first?.name == name)
                // A second untagged copy, as a pass killed between registerTemplate and createTags leaves it.
                var request = RegisterTemplateRequest(
                    name: name, displayText: "spare", url: pass.imageURL(ImageCache.fileName(manifest)), format: "QCOW2", hypervisor: "KVM",
                    osTypeID: try #require(orphans.first?.ostypeid), zoneIDs: ["-1"])
                request.checksum = "{SHA-256}\(manifest.sha256)"
                _ = try await client.registerTemplate(request, logger: quietLogger)
                orphans = try await agentTemplates(client)
                #expect(orphans.count == 2)

                simulator.setFaults(FaultConfiguration())
                let outcomes = try await pass.run()
                #expect(outcomes.map(\.state) == ["ready, featured"] && outcomes[0].error == nil)
                let templates = try await agentTemplates(client)
                #expect(templates.count == 1 && templates[0].isready == true && templates[0].isfeatured == true)
                #expect(tags(templates[0]) == ["mclouds.template": "ubuntu", "mclouds.version": "1", "mclouds.digest": manifest.sha256])
                #expect(orphans.contains { $0.id == templates[0].id }, "adopted, not registered again")
            }
        }
    }

    @Test("a failed copy listed before a complete one (what kills during CloudStack's download left): one pass keeps the Ready one only")
    func failedCopyBesideReady() async throws {
        try await withPublishedServer(image: try randomImage(60_000)) { central, repository, manifest, directory in
            try await withSite(central: central, repository: repository, directory: directory) { simulator, client, pass in
                #expect(try await pass.run().map(\.state) == ["ready, featured"])
                let good = try #require(try await agentTemplates(client).first?.id)
                var faults = FaultConfiguration()
                faults.failDownloads = true
                simulator.setFaults(faults)
                _ = try await pass.registrar.register(manifest, url: pass.imageURL(ImageCache.fileName(manifest)))
                try await Task.sleep(for: .milliseconds(300))
                simulator.setFaults(FaultConfiguration())
                #expect(try await agentTemplates(client).count == 2)

                let outcomes = try await pass.run()
                #expect(outcomes.map(\.state) == ["ready, featured"] && outcomes[0].error == nil)
                #expect(try await agentTemplates(client).map(\.id) == [good])
            }
        }
    }

    @Test(
        "a flipped byte in the site's image: CloudStack refuses the checksum once, the damaged chunk is fetched again, and the same pass ends Ready")
    func rottenImageAtSite() async throws {
        let image = try randomImage(200_000)
        try await withPublishedServer(image: image) { central, repository, manifest, directory in
            try await withSite(central: central, repository: repository, directory: directory) { _, client, pass in
                _ = try await pass.run()
                for template in try await agentTemplates(client) { try await client.deleteTemplate(id: template.id!, logger: quietLogger) }
                let path = pass.fetcher.images.path(for: manifest)
                let handle = try #require(FileHandle(forUpdatingAtPath: path))
                try handle.seek(toOffset: 150_000)
                try handle.write(contentsOf: Data([image[150_000] ^ 0x01]))
                try handle.close()
                #expect(pass.fetcher.images.damagedChunks(of: manifest).count == 1)

                let outcomes = try await pass.run()
                #expect(outcomes.map(\.state) == ["ready, featured"])
                let damaged = try #require(manifest.chunks.first { $0.offset <= 150_000 && 150_000 < $0.offset + Int64($0.length) })
                #expect(outcomes[0].bytesDownloaded == Int64(damaged.length), "only the damaged chunk is fetched again")
                #expect(FileManager.default.contents(atPath: path) == Data(image))
                let templates = try await agentTemplates(client)
                #expect(templates.count == 1 && templates[0].isready == true)
            }
        }
    }

    @Test("a fetch that fails part-way reports the bytes it did download (its verified chunks are kept)")
    func failedFetchReportsBytes() async throws {
        let image = try randomImage(200_000)
        try await withPublishedServer(image: image) { central, repository, manifest, directory in
            let mirror = try FaultyMirror(serving: manifest, from: repository)
            let last = try #require(manifest.chunks.last)
            mirror.plan(last.digest, Array(repeating: .fail500, count: 50))
            try await mirror.withRunning { url in
                try await withSite(central: central, repository: repository, directory: directory) { _, client, pass in
                    var policy = ChunkFetcher.Policy()
                    policy.initialBackoff = .milliseconds(1)
                    policy.attempts = 2
                    let failing = SyncPass(
                        reader: pass.reader,
                        fetcher: ChunkFetcher(
                            mirrors: [url], images: pass.fetcher.images, partialDirectory: pass.fetcher.partialDirectory, policy: policy,
                            logger: quietLogger),
                        registrar: pass.registrar, settings: pass.settings, imageURL: pass.imageURL, logger: quietLogger)
                    let outcomes = try await failing.run()
                    #expect(outcomes.map(\.state) == ["failed"])
                    // The chunks before the one that failed came (not all of them may have, when the fetch stopped).
                    #expect(outcomes[0].bytesDownloaded > 100_000 && outcomes[0].bytesDownloaded <= 200_000 - Int64(last.length))
                    #expect(try await agentTemplates(client).isEmpty)
                }
            }
        }
    }
}
