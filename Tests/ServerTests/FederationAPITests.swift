import CloudStack
import CloudStackSimulator
import Core
import Foundation
import Logging
import NIOHTTP1
import Server
import TestSupport
import Testing

@Suite("Federation and dashboard API, web page and metrics")
struct FederationAPITests {
    static let admin = [("Authorization", "Bearer admin-token")]

    @Test(
        "regions: add (admin only, secret never returned), list, show, change, remove; bad input gets clear JSON errors",
        arguments: TestDatabase.available)
    func regionsAPI(backend: TestDatabase) async throws {
        try await withServer(on: backend) { server, _, _ in
            let base = server.baseURL + "/api/v1/regions"
            let body = Array(
                #"{"id": 6, "name": "MECA-TUS", "endpoint": "https://cloud.tus.example/client/api", "apiKey": "K6", "secretKey": "top-secret"}"#.utf8)
            let anonymous = try await http(.POST, base, body: body)
            #expect(anonymous.status == 401)
            let created = try await http(.POST, base, headers: Self.admin, body: body)
            #expect(created.status == 201 && created.json?["name"]?.stringValue == "MECA-TUS")
            let again = try await http(.POST, base, headers: Self.admin, body: body)
            #expect(again.status == 409 && again.errorMessage?.contains("already registered") == true)
            let malformed = try await http(.POST, base, headers: Self.admin, body: Array(#"{"id": "six"}"#.utf8))
            #expect(malformed.status == 400 && malformed.errorMessage?.contains("id") == true)
            let badEndpoint = try await http(
                .POST, base, headers: Self.admin,
                body: Array(#"{"id": 7, "name": "X", "endpoint": "ftp://x", "apiKey": "K", "secretKey": "S"}"#.utf8))
            #expect(badEndpoint.status == 400 && badEndpoint.errorMessage?.contains("Endpoint") == true)

            let list = try await http(.GET, base, headers: Self.admin)
            #expect(list.status == 200 && list.json?.arrayValue?.count == 1)
            #expect(try await http(.GET, base).status == 401)  // the registry is for admins only
            #expect(!String(decoding: list.body, as: UTF8.self).contains("top-secret"))
            #expect(try await http(.GET, base + "/6", headers: Self.admin).json?["name"]?.stringValue == "MECA-TUS")
            // Region ids are integers, as the OpenAPI document says.
            #expect(try await http(.GET, base + "/MECA-TUS", headers: Self.admin).status == 400)
            let changed = try await http(.PATCH, base + "/6", headers: Self.admin, body: Array(#"{"contact": "noc@tus.example"}"#.utf8))
            #expect(changed.status == 200 && changed.json?["contact"]?.stringValue == "noc@tus.example")
            #expect((try await http(.PATCH, base + "/6", body: Array("{}".utf8))).status == 401)
            #expect((try await http(.DELETE, base + "/6", headers: Self.admin)).status == 204)
            let gone = try await http(.GET, base + "/6", headers: Self.admin)
            #expect(gone.status == 404 && gone.errorMessage?.contains("No region") == true)
            #expect((try await http(.DELETE, base + "/abc", headers: Self.admin)).status == 400)
        }
    }

    @Test("sync, collect, the dashboard JSON, the HTML page (no script, nothing external) and /metrics, against a simulated region")
    func dashboard() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = SimulatorConfiguration.default(regionName: "MECA-BME")
        configuration.regionID = 3
        configuration.seedVirtualMachines = 7
        try await Simulator.withRunning(configuration, logger: logger) { simulator in
            try await withServer { server, _, directory in
                let region = """
                    {"id": 3, "name": "MECA-BME", "endpoint": "\(simulator.endpoint)", "apiKey": "\(simulator.adminKeys.apikey!)", "secretKey": "\(simulator.adminKeys.secretkey!)"}
                    """
                #expect((try await http(.POST, server.baseURL + "/api/v1/regions", headers: Self.admin, body: Array(region.utf8))).status == 201)
                let plan = try await http(.POST, server.baseURL + "/api/v1/regions/sync?dryRun=true", headers: Self.admin)
                #expect(plan.status == 200 && plan.json?.arrayValue?.first?["reachable"]?.boolValue == true)
                // A second region that never answers: shown with its problem, counted as missing, never as zero.
                let dead = #"{"id": 9, "name": "Dead-Region", "endpoint": "http://127.0.0.1:9/client/api", "apiKey": "K", "secretKey": "S"}"#
                #expect((try await http(.POST, server.baseURL + "/api/v1/regions", headers: Self.admin, body: Array(dead.utf8))).status == 201)
                #expect((try await http(.POST, server.baseURL + "/api/v1/dashboard/collect")).status == 401)
                let collected = try await http(.POST, server.baseURL + "/api/v1/dashboard/collect", headers: Self.admin)
                #expect(collected.status == 200 && collected.json?["failed"]?.arrayValue?.map(\.stringValue) == ["Dead-Region"])

                let summary = try await http(.GET, server.baseURL + "/api/v1/dashboard")
                #expect(summary.json?["virtualMachines"]?.intValue == 7)
                #expect(summary.json?["missingRegions"]?.arrayValue?.map(\.stringValue) == ["Dead-Region"])
                #expect(summary.json?["totals"]?["memory"]?["total"]?.intValue ?? 0 > 0)

                let page = try await http(.GET, server.baseURL + "/")
                let html = String(decoding: page.body, as: UTF8.self)
                #expect(page.status == 200 && page.headers.first(name: "Content-Type")?.hasPrefix("text/html") == true)
                #expect(html.contains("MECA-BME") && html.contains("<svg") && html.contains("http-equiv=\"refresh\""))
                #expect(html.contains("7 running of 7"))
                #expect(html.contains("Dead-Region") && html.contains("collection failed") && html.contains("no data"))
                #expect(html.contains("never collected: Dead-Region"))
                #expect(!html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("@import"))

                let metrics = try await http(.GET, server.baseURL + "/metrics")
                let text = String(decoding: metrics.body, as: UTF8.self)
                #expect(metrics.status == 200)
                #expect(text.contains(#"mclouds_region_memory_capacity_bytes{region="MECA-BME"}"#))
                #expect(text.contains(#"mclouds_region_cpu_used_hertz{region="MECA-BME"}"#))
                #expect(text.contains("# HELP mclouds_region_data_age_seconds") && text.contains("# TYPE mclouds_region_up gauge"))
                #expect(text.contains(#"mclouds_build_info{version=""#) && text.contains("process_resident_memory_bytes"))
                #expect(text.contains(#"mclouds_region_up{region="MECA-BME"} 1"#))
                #expect(text.contains(#"mclouds_region_up{region="Dead-Region"} 0"#))
                #expect(text.contains(#"mclouds_collection_errors_total{region="Dead-Region"} 1"#))
                #expect(text.contains("mclouds_collection_duration_seconds"))
                #expect(text.contains(#"mclouds_region_virtual_machines{region="MECA-BME",state="all"} 7"#))

                // The same summary on a terminal.
                let table = try await runMClouds(["dashboard", "--server", server.baseURL])
                #expect(table.status == 0 && table.stdout.contains("MECA-BME") && table.stdout.contains("FEDERATION"), "\(table.stderr)")
                #expect(table.stdout.contains("7/7"))
                let json = try await runMClouds(["dashboard", "--server", server.baseURL, "--json"])
                #expect(json.stdout.contains(#""virtualMachines": 7"#) || json.stdout.contains(#""virtualMachines":7"#))
                let refused = try await runMClouds(["dashboard", "collect", "--server", server.baseURL])
                #expect(refused.status == 1 && refused.stderr.contains("token"))
                let tokenFile = directory.appendingPathComponent("token")
                try Data("admin-token\n".utf8).write(to: tokenFile)
                let collect = try await runMClouds(["dashboard", "collect", "--server", server.baseURL, "--token-file", tokenFile.path])
                #expect(collect.status == 0 && collect.stdout.contains("Collected 2 regions") && collect.stdout.contains("not reached: Dead-Region"))
                #expect(table.stdout.contains("Dead-Region") && table.stdout.contains("collection failed"))
            }
        }
    }
}
