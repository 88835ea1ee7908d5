import AsyncHTTPClient
import Builder
import CloudStack
import CloudStackSimulator
import Core
import Federation
import Foundation
import NIOCore
import NIOHTTP1
import Server
import SyncAgent
import Synchronization
import TemplateRepository
import TestSupport
import Testing

@Suite("Template builds: recipe → build in one region → publish → every region")
struct BuildRolloutTests {
    static let admin = ("Authorization", "Bearer admin-token")

    func call(_ method: HTTPMethod, _ url: String, _ body: String? = nil) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: Self.admin.0, value: Self.admin.1)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClients.shared.execute(request, timeout: .seconds(60))
        return (Int(response.status.code), Array(try await response.body.collect(upTo: 16 << 20).readableBytesView))
    }

    struct Progress: Decodable {
        var report: BuildReport
        var log: [BuildLogLine]
    }

    static let recipe = """
        name: eda-lab
        os: linux
        base:
          template: ubuntu-base
        packages: [yosys, iverilog, gtkwave, klayout, magic, ngspice, verilator]
        build:
          offering: Small Instance
          timeoutMinutes: 10
        output:
          osType: Ubuntu 22.04 LTS
        version: counter
        checks:
          - name: yosys
            run: yosys -V
          - name: verilator
            run: verilator --version
        """

    @Test("an admin builds a recipe through the API in one region and follows its log; another region's agent syncs the new version to Ready")
    func buildThenRollout() async throws {
        try await withTemporaryDirectory { directory in
            let data = DataDirectory(directory.appendingPathComponent("central").path)
            let repository = try await data.openRepository(parameters: testParameters, logger: quietLogger)
            let federation = try await data.openFederation(logger: quietLogger)
            let builds = try await data.openBuilds(logger: quietLogger)
            let base = directory.appendingPathComponent("base.qcow2")
            try Data(try randomImage(2_000_000)).write(to: base)
            _ = try await repository.publish(
                imageAt: base.path,
                metadata: TemplateMetadata(name: "ubuntu-base", version: "1", format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS"))
            let address = Mutex("")
            var tuning = BuildRunner.Configuration()
            tuning.pollSeconds = 0.2
            tuning.powerOffGraceSeconds = 10
            let runner = BuildRunner(
                store: builds.store, leases: builds.leases, registry: federation.registry, repository: repository, workDirectory: builds.work,
                callbackURL: { address.withLock { $0 } }, configuration: tuning, logger: quietLogger)
            try await MCloudsServer.withRunning(
                .init(port: 0, adminTokens: ["admin-token"]), repository: repository, federation: federation, builds: runner, logger: quietLogger
            ) { server in
                address.withLock { $0 = server.baseURL }
                try await ServiceScope.withRunning([runner], logger: quietLogger) {
                    try await withSite(
                        central: server, repository: repository, directory: directory.appendingPathComponent("a"),
                        configure: { $0.guestProvisioningSeconds = 1 }
                    ) { simulatorA, clientA, passA in
                        try await federation.registry.add(
                            FederationRegion(id: 7, name: "Build-Region", endpoint: simulatorA.endpoint, apiKey: simulatorA.adminKeys.apikey!),
                            secretKey: simulatorA.adminKeys.secretkey!)
                        #expect(try await passA.run().map(\.state) == ["ready, featured"])

                        // A recipe with a mistake is refused with its line and field; nothing starts.
                        let bad = try await call(
                            .POST, server.baseURL + "/api/v1/builds",
                            String(
                                decoding: try JSONEncoder().encode(["recipe": Self.recipe + "\npackagez: [x]", "region": "Build-Region"]),
                                as: UTF8.self))
                        #expect(bad.status == 400 && String(decoding: bad.body, as: UTF8.self).contains("recipe:17: packagez"))

                        let started = try await call(
                            .POST, server.baseURL + "/api/v1/builds",
                            String(decoding: try JSONEncoder().encode(["recipe": Self.recipe, "region": "Build-Region"]), as: UTF8.self))
                        #expect(started.status == 202)
                        let id = try JSONDecoder().decode(BuildReport.self, from: Data(started.body)).id
                        // A second build of the recipe while this one runs is refused.
                        let twice = try await call(
                            .POST, server.baseURL + "/api/v1/builds",
                            String(decoding: try JSONEncoder().encode(["recipe": Self.recipe, "region": "Build-Region"]), as: UTF8.self))
                        #expect(twice.status == 409)

                        // Followed as `mclouds template build` follows it: the log after the last line seen.
                        var seen = 0
                        var lines: [BuildLogLine] = []
                        var report: BuildReport
                        let deadline = Date().addingTimeInterval(120)
                        repeat {
                            try await Task.sleep(for: .milliseconds(200))
                            let answer = try await call(.GET, server.baseURL + "/api/v1/builds/\(id)?after=\(seen)")
                            let progress = try JSONDecoder().decode(Progress.self, from: Data(answer.body))
                            lines += progress.log
                            seen = progress.log.last?.sequence ?? seen
                            report = progress.report
                        } while report.state == .running && Date() < deadline
                        #expect(report.state == .succeeded, "\(report.error ?? "")")
                        #expect(report.version == "1" && report.base == "ubuntu-base@1" && report.region == "Build-Region")
                        #expect(lines.map(\.sequence) == Array(1...lines.count))
                        #expect(lines.contains { $0.text.contains("check verilator (verilator --version): exit 0") })
                        let manifest = try await repository.manifest(name: "eda-lab", version: "1")
                        #expect(manifest.build?.recipeDigest == (try Recipe.parse(Self.recipe)).digest)
                        #expect(manifest.size > 2_000_000)
                        // Nothing of the build is left in the build region.
                        #expect(try await clientA.listVirtualMachines(logger: quietLogger).isEmpty)
                        #expect(
                            try await clientA.listTemplates(filter: .self, logger: quietLogger).allSatisfy {
                                !($0.name ?? "").hasPrefix("mclouds-build-")
                            })
                        // The guest's callback is only for the guest: a forged token is refused.
                        let forged = try await call(.POST, server.baseURL + "/api/v1/builds/\(id)/callback?token=forged", #"{"checks":[]}"#)
                        #expect(forged.status == 403)

                        try await withSite(central: server, repository: repository, directory: directory.appendingPathComponent("b")) {
                            _, clientB, passB in
                            let outcomes = try await passB.run()
                            #expect(outcomes.contains { $0.template == "eda-lab" && $0.version == "1" && $0.state == "ready, featured" })
                            let registered = try await clientB.listTemplates(
                                filter: .self, tags: [ResourceTag(key: RegistrationTags.template, value: "eda-lab")], logger: quietLogger)
                            #expect(registered.count == 1 && registered.first?.isready == true)
                            // The agent's report puts it on the dashboard's rollout matrix.
                            try await repository.recordReport(
                                site: "Site-B",
                                outcomes.map {
                                    SiteTemplateState(
                                        site: "Site-B", template: $0.template, version: $0.version, state: $0.state,
                                        bytesDownloaded: $0.bytesDownloaded,
                                        bytesReused: $0.bytesReused)
                                })
                            #expect(
                                try await repository.rollout().contains {
                                    $0.site == "Site-B" && $0.template == "eda-lab" && $0.state.hasPrefix("ready")
                                })
                        }
                    }
                }
            }
        }
    }
}
