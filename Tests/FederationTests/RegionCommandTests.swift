import CloudStack
import CloudStackSimulator
import Foundation
import TestSupport
import Testing

@Suite("mclouds region")
struct RegionCommandTests {
    @Test("`region add/list/show/update/remove/sync` from the command line; secrets only from the environment or a file")
    func commandLine() async throws {
        try await withTemporaryDirectory { directory in
            try await withThreeRegions { simulators in
                let data = directory.appendingPathComponent("data").path
                for simulator in simulators {
                    let added = try await runMClouds(
                        [
                            "region", "add", "--data", data, "--id", String(simulator.configuration.regionID), "--name",
                            simulator.configuration.regionName,
                            "--endpoint", simulator.endpoint, "--api-key", simulator.adminKeys.apikey!, "--contact", "ops@example.org",
                        ], environment: ["MCLOUDS_REGION_SECRET": simulator.adminKeys.secretkey!])
                    #expect(added.status == 0, "\(added.stderr)")
                }
                let noSecret = try await runMClouds(
                    ["region", "add", "--data", data, "--id", "9", "--name", "X", "--endpoint", "http://127.0.0.1:1/client/api", "--api-key", "K"])
                #expect(noSecret.status != 0 && noSecret.stderr.contains("MCLOUDS_REGION_SECRET"))
                let duplicate = try await runMClouds(
                    ["region", "add", "--data", data, "--id", "6", "--name", "Y", "--endpoint", "http://127.0.0.1:1/client/api", "--api-key", "K"],
                    environment: ["MCLOUDS_REGION_SECRET": "s"])
                #expect(duplicate.status == 1 && duplicate.stderr.contains("already registered"))

                // An API key that begins with "-" (one CloudStack key in 64 does) is a value, not an option.
                let dash = try await runMClouds(
                    [
                        "region", "add", "--data", data, "--id", "12", "--name", "Dash", "--endpoint", "http://127.0.0.1:1/client/api", "--api-key",
                        "-Kdash",
                    ],
                    environment: ["MCLOUDS_REGION_SECRET": "s"])
                #expect(dash.status == 0, "\(dash.stderr)")
                #expect(try await runMClouds(["region", "show", "12", "--data", data]).stdout.contains("api key:       -Kdash"))
                #expect(try await runMClouds(["region", "remove", "12", "--data", data]).status == 0)

                let list = try await runMClouds(["region", "list", "--data", data, "--json"])
                #expect(list.status == 0 && list.stdout.contains("\"MECA-TUS\"") && !list.stdout.contains(simulators[1].adminKeys.secretkey!))
                let show = try await runMClouds(["region", "show", "MECA-BME", "--data", data])
                #expect(show.stdout.contains("region 3: MECA-BME") && show.stdout.contains("(stored encrypted)"))

                let plan = try await runMClouds(["region", "sync", "--data", data, "--dry-run"])
                #expect(plan.status == 0 && plan.stdout.contains("+ 6 MECA-TUS") && plan.stdout.contains("6 changes planned"), "\(plan.stdout)")
                let apply = try await runMClouds(["region", "sync", "--data", data])
                #expect(apply.status == 0 && apply.stdout.contains("6 changes applied"), "\(apply.stdout)")
                let again = try await runMClouds(["region", "sync", "--data", data])
                #expect(again.status == 0 && again.stdout.contains("0 changes applied") && again.stdout.contains("in line with the registry"))

                let update = try await runMClouds(["region", "update", "3", "--data", data, "--endpoint", "http://127.0.0.1:9/client/api"])
                #expect(update.status == 0)
                let partial = try await runMClouds(["region", "sync", "--data", data])
                #expect(partial.status == 1 && partial.stdout.contains("unreachable, skipped"), "\(partial.stdout)")
                #expect(partial.stdout.contains("~ 3 endpoint → http://127.0.0.1:9/client  done"))
                let removed = try await runMClouds(["region", "remove", "3", "--data", data])
                #expect(removed.status == 0)
                let unknown = try await runMClouds(["region", "show", "3", "--data", data])
                #expect(unknown.status == 1 && unknown.stderr.contains("No region"))
            }
        }
    }
}
