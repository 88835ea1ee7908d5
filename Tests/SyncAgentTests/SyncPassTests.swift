import CloudStack
import CloudStackSimulator
import Core
import Crypto
import Foundation
import Logging
import Server
import ServiceLifecycle
import SyncAgent
import TemplateRepository
import Testing

/// A simulated region, the agent's image server, and a sync pass wired to both and to the central server.
func withSite<T: Sendable>(
    central: MCloudsServer, repository: Repository, directory: URL, keepVersions: Int = 1, cacheBudgetBytes: Int64? = nil,
    configure: (inout SimulatorConfiguration) -> Void = { _ in }, _ body: (Simulator, CloudStackClient, SyncPass) async throws -> T
) async throws -> T {
    var configuration = SimulatorConfiguration.default(regionName: "Site")
    configuration.jobDurationMilliseconds = 20
    configure(&configuration)
    return try await Simulator.withRunning(configuration, logger: quietLogger) { simulator in
        let keys = simulator.adminKeys
        var clientConfiguration = CloudStackClient.Configuration(
            endpoint: simulator.endpoint, apiKey: keys.apikey!, secretKey: keys.secretkey!, region: "Site")
        clientConfiguration.jobPollInitial = .milliseconds(10)
        let client = CloudStackClient(configuration: clientConfiguration)
        let images = directory.appendingPathComponent("site/images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let imageServer = ImageServer(configuration: .init(directory: images.path))
        return try await ServiceScope.withRunning([imageServer], logger: quietLogger, ready: { _ = await imageServer.waitUntilRunning() }) {
            var settings = SyncPass.Settings()
            settings.keepVersions = keepVersions
            settings.cacheBudgetBytes = cacheBudgetBytes
            settings.pollInterval = .milliseconds(20)
            settings.registrationTimeout = .seconds(30)
            let pass = SyncPass(
                reader: CatalogReader(
                    client: RepositoryClient(baseURL: central.baseURL), trusted: [repository.key.publicKey],
                    stateFile: directory.appendingPathComponent("site/state.json").path),
                fetcher: ChunkFetcher(
                    mirrors: [central.baseURL], images: try ImageCache(directory: images),
                    partialDirectory: directory.appendingPathComponent("site/partial"), logger: quietLogger),
                registrar: CloudStackRegistrar(client: client, logger: quietLogger), settings: settings,
                imageURL: { imageServer.url(for: $0) }, logger: quietLogger)
            return try await body(simulator, client, pass)
        }
    }
}

@Suite("Site agent: a sync pass against a simulated CloudStack")
struct SyncPassTests {
    @Test("a fresh site ends with the template Ready, tagged, checksummed and featured; a second pass changes nothing")
    func freshSite() async throws {
        let image = try randomImage(300_000)
        try await withPublishedServer(image: image) { central, repository, manifest, directory in
            try await withSite(central: central, repository: repository, directory: directory) { _, client, pass in
                let outcomes = try await pass.run()
                #expect(outcomes.map(\.state) == ["ready, featured"])
                #expect(outcomes[0].bytesDownloaded == 300_000)
                let templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                #expect(templates.count == 1)
                let template = try #require(templates.first)
                #expect(template.isready == true && template.isfeatured == true)
                #expect(template.checksum?.hasSuffix(manifest.sha256) == true)
                let tags = Dictionary(uniqueKeysWithValues: (template.tags ?? []).compactMap { t in t.key.map { ($0, t.value ?? "") } })
                #expect(tags["mclouds.template"] == "ubuntu" && tags["mclouds.version"] == "1" && tags["mclouds.digest"] == manifest.sha256)

                let again = try await pass.run()
                #expect(again.map(\.bytesDownloaded) == [0])
                #expect(try await client.listTemplates(filter: .self, logger: quietLogger).map(\.id) == templates.map(\.id))
            }
        }
    }

    @Test(
        "a new version moves only its new chunks, is registered, and the old one is retired only once no VM uses it; over budget, the old image goes"
    )
    func rollover() async throws {
        let image = try randomImage(300_000)
        try await withPublishedServer(image: image) { central, repository, _, directory in
            try await withSite(central: central, repository: repository, directory: directory, cacheBudgetBytes: 0) { simulator, client, pass in
                _ = try await pass.run()
                let v1 = try #require(try await client.listTemplates(filter: .self, logger: quietLogger).first?.id)
                let zone = try await client.listZones(logger: quietLogger)[0].id!
                let offering = try await client.listServiceOfferings(logger: quietLogger)[0].id!
                let vm = try await client.deployVirtualMachine(.init(zoneID: zone, templateID: v1, serviceOfferingID: offering), logger: quietLogger)

                var v2 = image
                v2.replaceSubrange(150_000..<150_100, with: [UInt8](repeating: 1, count: 100))
                let file = directory.appendingPathComponent("v2.qcow2")
                try Data(v2).write(to: file)
                _ = try await repository.publish(
                    imageAt: file.path,
                    metadata: TemplateMetadata(name: "ubuntu", version: "2", format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS"))

                let second = try await pass.run()
                #expect(second.map(\.version) == ["2"] && second[0].state == "ready, featured")
                #expect(second[0].bytesDownloaded > 0 && second[0].bytesDownloaded < 100_000)
                var templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                #expect(Set(templates.compactMap(\.id)).contains(v1))  // a VM still uses v1
                #expect(templates.first { $0.id == v1 }?.isfeatured == false)
                // Only the current image stays within the (zero) budget; v1's chunks were read from v1's image.
                let images = pass.fetcher.images
                #expect(images.images().map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["ubuntu-2.qcow2"])
                #expect(FileManager.default.contents(atPath: images.directory.appendingPathComponent("ubuntu-2.qcow2").path) == Data(v2))

                _ = try await client.destroyVirtualMachine(id: vm.id!, expunge: true, logger: quietLogger)
                _ = try await pass.run()
                templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                #expect(!templates.contains { $0.id == v1 })
                #expect(templates.count == 1 && templates[0].isfeatured == true)
                _ = simulator
            }
        }
    }

    @Test("two versions of the same bytes (tpl@1, tpl@1c): both become Ready, the bytes are stored once, leftovers still go under a zero budget")
    func sameBytesTwice() async throws {
        let image = try randomImage(100_000)
        try await withPublishedServer(image: image) { central, repository, _, directory in
            let file = directory.appendingPathComponent("again.qcow2")
            try Data(image).write(to: file)
            _ = try await repository.publish(
                imageAt: file.path,
                metadata: TemplateMetadata(name: "ubuntu", version: "1c", format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS"))
            try await withSite(central: central, repository: repository, directory: directory, keepVersions: 2, cacheBudgetBytes: 0) {
                _, client, pass in
                let images = pass.fetcher.images
                try Data([1]).write(to: images.directory.appendingPathComponent("ubuntu-0.qcow2.partial"))
                let outcomes = try await pass.run()
                #expect(outcomes.map(\.version) == ["1", "1c"])
                #expect(outcomes.map(\.state) == ["ready", "ready, featured"])
                // The second version took the first one's image whole.
                #expect(outcomes[1].bytesDownloaded == 0 && outcomes[1].bytesReused == 100_000)
                let names = Set(try FileManager.default.contentsOfDirectory(atPath: images.directory.path))
                #expect(names == ["ubuntu-1.qcow2", "ubuntu-1.qcow2.manifest", "ubuntu-1c.qcow2", "ubuntu-1c.qcow2.manifest"])
                let first = try FileManager.default.attributesOfItem(atPath: images.directory.appendingPathComponent("ubuntu-1.qcow2").path)
                let second = try FileManager.default.attributesOfItem(atPath: images.directory.appendingPathComponent("ubuntu-1c.qcow2").path)
                #expect(first[.systemFileNumber] as? Int == second[.systemFileNumber] as? Int, "stored twice")
                #expect(FileManager.default.contents(atPath: images.directory.appendingPathComponent("ubuntu-1c.qcow2").path) == Data(image))
                let templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                #expect(templates.count == 2 && templates.allSatisfy { $0.isready == true })
                // A second pass changes nothing.
                #expect(try await pass.run().map(\.state) == ["ready", "ready, featured"])
                #expect(try await client.listTemplates(filter: .self, logger: quietLogger).count == 2)
            }
        }
    }

    @Test("a failed download in CloudStack is reported, retried on the next pass, and ends Ready; nothing is registered twice")
    func failedRegistrationRetried() async throws {
        try await withPublishedServer(image: try randomImage(100_000)) { central, repository, _, directory in
            try await withSite(central: central, repository: repository, directory: directory) { simulator, client, pass in
                var faults = FaultConfiguration()
                faults.failDownloads = true
                simulator.setFaults(faults)
                let failed = try await pass.run()
                #expect(failed.map(\.state) == ["failed"])
                #expect(failed[0].error?.contains("retried on the next pass") == true)

                simulator.setFaults(FaultConfiguration())
                let healed = try await pass.run()
                #expect(healed.map(\.state) == ["ready, featured"])
                let templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                #expect(templates.count == 1 && templates[0].isready == true)
            }
        }
    }

    @Test("the central server down or answering 500: the pass fails with a clear error and registers nothing")
    func centralDown() async throws {
        try await withPublishedServer(image: try randomImage(30_000)) { central, repository, _, directory in
            try await withSite(central: central, repository: repository, directory: directory) { simulator, client, pass in
                let dead = SyncPass(
                    reader: CatalogReader(
                        client: RepositoryClient(baseURL: "http://127.0.0.1:9"), trusted: [repository.key.publicKey],
                        stateFile: directory.appendingPathComponent("dead-state.json").path),
                    fetcher: pass.fetcher, registrar: pass.registrar, settings: pass.settings, imageURL: pass.imageURL, logger: quietLogger)
                let error = await #expect(throws: RepositoryClientError.self) { try await dead.run() }
                #expect("\(error!)".contains("cannot be reached"))
                let templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                #expect(templates.isEmpty)
                _ = simulator
            }
        }
    }
}
