import Access
import CloudStack
import CloudStackSimulator
import Foundation
import Logging
import Server
import TestSupport
import Testing

@Suite("mclouds region --server")
struct RegionThroughServerTests {
    @Test("add, list, show, update, sync and remove go through the server with a token — authorised and audited; without one they are refused")
    func regionCommandsThroughServer() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = SimulatorConfiguration.default(regionName: "MECA-TUS")
        configuration.regionID = 6
        try await Simulator.withRunning(configuration, logger: logger) { simulator in
            try await withServer { server, _, _ in
                let admin = ["MCLOUDS_TOKEN": "admin-token", "MCLOUDS_REGION_SECRET": simulator.adminKeys.secretkey!]
                let at = ["--server", server.baseURL]
                let add = [
                    "region", "add", "--id", "6", "--name", "MECA-TUS", "--endpoint", simulator.endpoint, "--api-key", simulator.adminKeys.apikey!,
                ]
                let refused = try await runMClouds(add + at, environment: ["MCLOUDS_REGION_SECRET": "S"])
                #expect(refused.status == 1 && refused.stderr.contains("401"), "\(refused.stderr)")
                let added = try await runMClouds(add + at, environment: admin)
                #expect(added.status == 0 && added.stdout.contains("region sync --server"), "\(added.stderr)")
                let list = try await runMClouds(["region", "list"] + at, environment: admin)
                #expect(list.status == 0 && list.stdout.contains("MECA-TUS") && !list.stdout.contains(simulator.adminKeys.secretkey!))
                let show = try await runMClouds(["region", "show", "MECA-TUS"] + at, environment: admin)
                #expect(show.status == 0 && show.stdout.contains("region 6: MECA-TUS"), "\(show.stderr)")
                let update = try await runMClouds(["region", "update", "6", "--contact", "noc@tus.example"] + at, environment: admin)
                #expect(update.status == 0, "\(update.stderr)")
                let sync = try await runMClouds(["region", "sync", "--dry-run"] + at, environment: admin)
                #expect(sync.status == 0 && sync.stdout.contains("1 installations"), "\(sync.stdout)\(sync.stderr)")
                let remove = try await runMClouds(["region", "remove", "6"] + at, environment: admin)
                #expect(remove.status == 0, "\(remove.stderr)")
                // Every change passed the gatekeeper and is in the audit log, with its result.
                let actions = try await server.access!.audit.entries().map { "\($0.action) \($0.result)" }
                for expected in [
                    "POST /api/v1/regions 401 refused", "POST /api/v1/regions 201", "PATCH /api/v1/regions/{id} 200",
                    "DELETE /api/v1/regions/{id} 204",
                ] {
                    #expect(actions.contains(expected), "\(actions)")
                }
                // Each entry says what the change did, before → after, and never a secret.
                let entries = try await server.access!.audit.entries()
                func summary(_ action: String, _ result: String) -> String? {
                    entries.first { $0.action == action && $0.result == result }?.summary
                }
                #expect(summary("POST /api/v1/regions", "201")?.hasPrefix("region 6 MECA-TUS at \(simulator.endpoint)") == true)
                #expect(summary("PATCH /api/v1/regions/{id}", "200") == "contact: - → noc@tus.example")
                #expect(summary("DELETE /api/v1/regions/{id}", "204") == "removed region MECA-TUS at \(simulator.endpoint)")
                #expect(summary("POST /api/v1/regions/sync", "200")?.hasPrefix("dry run over 1 installations: 0 actions applied") == true)
                #expect(summary("POST /api/v1/regions", "401 refused") == "")
                #expect(!entries.contains { $0.summary.contains(simulator.adminKeys.secretkey!) || $0.summary.contains(simulator.adminKeys.apikey!) })
                #expect(try await server.access!.audit.verify() == entries.count)
                let audit = try await runMClouds(["audit", "--action", "PATCH"] + at, environment: admin)
                #expect(audit.status == 0 && audit.stdout.contains("contact: - → noc@tus.example"), "\(audit.stdout)\(audit.stderr)")
                let both = try await runMClouds(["region", "list", "--server", server.baseURL, "--data", "/tmp/x"])
                #expect(both.status != 0 && both.stderr.contains("either --server URL"))
            }
        }
    }
}
