import Core
import Foundation
import NIOHTTP1
import Server
import TemplateRepository
import TestSupport
import Testing

@Suite("No secret leaks")
struct SecretLeakTests {
    @Test("a full scenario at trace log level: no known secret in any log line, CLI output, API answer, the audit log or the raw database files")
    func noSecretAnywhere() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.appendingPathComponent("data")
            let adminToken = "admin-" + UUID().uuidString
            let regionSecret = "region-secret-" + UUID().uuidString
            let server = try await ServerProcess.start(
                ["server", "--data", data.path, "--port", "0", "--scrub-interval-hours", "0", "--log-level", "trace"],
                environment: ["MCLOUDS_ADMIN_TOKEN": adminToken], in: directory)
            defer { kill(server.pid, SIGKILL) }
            let base = server.baseURL
            let admin = [("Authorization", "Bearer \(adminToken)")]
            var seen: [String] = []  // everything a user or operator could read

            // A region with its secret key, through the API; read back, listed, changed.
            let region =
                #"{"id": 6, "name": "MECA-TUS", "endpoint": "http://127.0.0.1:9/client/api", "apiKey": "K", "secretKey": "\#(regionSecret)"}"#
            for exchange in [
                try await http(.POST, base + "/api/v1/regions", headers: admin, body: Array(region.utf8)),
                try await http(.GET, base + "/api/v1/regions", headers: admin),
                try await http(.GET, base + "/api/v1/regions/6", headers: admin),
                try await http(
                    .PATCH, base + "/api/v1/regions/6", headers: admin, body: Array(#"{"secretKey": "\#(regionSecret)-2"}"#.utf8)),
                try await http(.POST, base + "/api/v1/dashboard/collect", headers: admin),
                try await http(.GET, base + "/api/v1/dashboard"),
                try await http(.GET, base + "/metrics"),
                try await http(.GET, base + "/"),
            ] {
                seen.append(String(decoding: exchange.body, as: UTF8.self) + "\(exchange.headers)")
            }
            // A token made and used, a refused request with a wrong token, a publish.
            let created = try await runMClouds(
                ["token", "create", "--server", base, "--name", "agent", "--role", "site-agent", "--site", "S-1", "--json"],
                environment: ["MCLOUDS_TOKEN": adminToken])
            let issued = try #require(
                try JSONDecoder().decode(JSONValue.self, from: Data(created.stdout.utf8))["secret"]?.stringValue)
            let report = SiteReportTests.report(template: "none", version: "1")
            _ = try await http(.POST, base + "/api/v1/sites/S-1/report", headers: [("Authorization", "Bearer \(issued)")], body: report)
            _ = try await http(.POST, base + "/api/v1/sites/S-2/report", headers: [("Authorization", "Bearer \(issued)")], body: report)
            _ = try await http(.POST, base + "/api/v1/regions", headers: [("Authorization", "Bearer \(adminToken)x")], body: Array(region.utf8))
            let image = try writeFile(bytes(50_000, seed: 77), in: directory)
            for command in [
                [
                    "template", "publish", image, "--name", "t", "--version", "1", "--format", "QCOW2", "--hypervisor", "KVM", "--os-type",
                    "Ubuntu 22.04 LTS", "--server", base,
                ],
                ["token", "list", "--server", base], ["audit", "--server", base, "--json"], ["dashboard", "--server", base],
                ["region", "list", "--data", data.path], ["region", "show", "6", "--data", data.path],
            ] {
                let result = try await runMClouds(command, environment: ["MCLOUDS_TOKEN": adminToken])
                seen.append(result.stdout + result.stderr)
            }
            await server.stop()
            seen.append(server.stdout + server.stderr)
            // The raw database files (the catalog, its WAL), byte for byte.
            for file in try FileManager.default.contentsOfDirectory(atPath: data.path) where file.hasPrefix("catalog.sqlite") {
                seen.append(String(decoding: try Data(contentsOf: data.appendingPathComponent(file)), as: UTF8.self))
            }
            #expect(server.stderr.contains("request"))  // the logs were there to be read
            for secret in [adminToken, regionSecret, issued, String(issued.dropFirst("mclouds_".count))] {
                let leaks = seen.filter { $0.contains(secret) }
                #expect(leaks.isEmpty, "a secret appears in: \(leaks.map { String($0.prefix(300)) })")
            }
            // The issued token was shown once: in the output of `token create`, nowhere else.
            #expect(created.stdout.contains(issued))
        }
    }
}
