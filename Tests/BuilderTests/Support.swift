import Builder
import CloudStack
import CloudStackSimulator
import Core
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Storage
import Synchronization
import TemplateRepository
import TestSupport

var quietLogger: Logger {
    var logger = Logger(label: "test.builder")
    logger.logLevel = .critical
    return logger
}

/// The repository root (for `recipes/`).
let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The builtin template every simulator has ready: the base of the test recipes.
let builtinBase = "CentOS 5.5(64-bit) no GUI (KVM)"

/// A small recipe on the simulator's builtin template, with `packages` and two checks.
func testRecipe(packages: [String] = ["yosys", "iverilog", "gtkwave", "klayout", "magic", "ngspice", "verilator"], version: String = "counter")
    throws -> Recipe
{
    try Recipe.parse(
        """
        name: eda-test
        os: linux
        base:
          cloudstack: "\(builtinBase)"
        packages: [\(packages.joined(separator: ", "))]
        files:
          - path: /etc/motd
            content: EDA lab
        scripts:
          - name: examples
            run: mkdir -p /opt/examples
        build:
          offering: Small Instance
          timeoutMinutes: 30
        output:
          osType: Ubuntu 22.04 LTS
        version: \(version)
        checks:
          - name: yosys
            run: yosys -V
          - name: iverilog
            run: iverilog -V
        """, file: "eda-test.yaml")
}

/// One simulated region, a repository and a build store on SQLite, a callback receiver as the server's, and a
/// clock 60× faster than real time that the simulator and the builder share.
struct BuildRig: Sendable {
    let simulator: Simulator
    let client: CloudStackClient
    let repository: Repository
    let store: BuildStore
    let callbackURL: String
    let clock: ScaledWallClock
    let directory: URL

    func builder(publisher: (any BuildPublisher)? = nil, configure: (inout TemplateBuilder.Configuration) -> Void = { _ in }) -> TemplateBuilder {
        var configuration = TemplateBuilder.Configuration(callbackBaseURL: callbackURL, workDirectory: directory.appendingPathComponent("work"))
        configuration.pollSeconds = 5
        configure(&configuration)
        return TemplateBuilder(
            configuration: configuration, client: client, region: simulator.configuration.regionName, publisher: publisher ?? repository,
            store: store, clock: clock, logger: quietLogger)
    }

    /// The builder VMs and temporary templates left in the simulator, by name.
    func leftovers() async throws -> [String] {
        let vms = try await client.listVirtualMachines(logger: quietLogger).compactMap(\.name).filter { $0.hasPrefix("mclouds-build-") }
        let templates = try await client.listTemplates(filter: .self, logger: quietLogger).compactMap(\.name).filter {
            $0.hasPrefix("mclouds-build-")
        }
        return vms.map { "VM \($0)" } + templates.map { "template \($0)" }
    }
}

func withBuildRig<T: Sendable>(faults: FaultConfiguration = .init(), _ body: (BuildRig) async throws -> T) async throws -> T {
    try await withTemporaryDirectory { directory in
        let clock = ScaledWallClock(start: Date(), factor: 60)
        var configuration = SimulatorConfiguration.default(regionName: "Build-Region")
        configuration.guestProvisioningSeconds = 40
        configuration.faults = faults
        return try await Simulator.withRunning(configuration, logger: quietLogger, clock: { clock.now() }) { simulator in
            var cs = CloudStackClient.Configuration(
                endpoint: simulator.endpoint, apiKey: simulator.adminKeys.apikey!, secretKey: simulator.adminKeys.secretkey!, region: "Build-Region")
            // The simulator's clock runs ahead of real time: signatures without an expiry.
            cs.signatureExpiry = nil
            let client = CloudStackClient(configuration: cs)
            let database = try await SQLiteStore.open(
                path: directory.appendingPathComponent("db.sqlite").path, migrations: Repository.migrations + BuildStore.migrations)
            let repository = try await Repository.open(
                dataDirectory: directory.appendingPathComponent("repo"), database: database, key: PublisherKey(), logger: quietLogger)
            let store = BuildStore(database: database)
            return try await CallbackReceiver(store: store).withRunning { url in
                try await body(
                    BuildRig(
                        simulator: simulator, client: client, repository: repository, store: store, callbackURL: url, clock: clock,
                        directory: directory))
            }
        }
    }
}

/// Takes builder guests' reports as the server does (`POST /api/v1/builds/{id}/callback?token=…`).
struct CallbackReceiver: Sendable {
    let store: BuildStore

    func withRunning<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/api/v1/builds/{id}/callback") { request, context -> Response in
            let id = context.parameters.get("id") ?? ""
            let token = request.uri.queryParameters.get("token") ?? ""
            let body = try await request.body.collect(upTo: 1 << 20)
            do {
                let report = try JSONDecoder().decode(GuestReport.self, from: Data(body.readableBytesView))
                try await store.acceptCallback(id, token: token, report: report)
                return Response(status: .noContent)
            } catch {
                return Response(status: .forbidden)
            }
        }
        let port = Mutex<Int?>(nil)
        let ready = AsyncStream<Void>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                port.withLock { $0 = channel.localAddress?.port }
                ready.continuation.yield()
            }, logger: quietLogger)
        return try await ServiceScope.withRunning([app], logger: quietLogger, ready: { for await _ in ready.stream { break } }) {
            try await body("http://127.0.0.1:\(port.withLock { $0 } ?? 0)")
        }
    }
}
