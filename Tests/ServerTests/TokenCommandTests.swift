import Core
import Foundation
import NIOHTTP1
import SQLKit
import Server
import Storage
import TestSupport
import Testing

@Suite("mclouds token and mclouds audit")
struct TokenCommandTests {
    @Test(
        "token create → a site token reports for its site only; list shows it without its secret; revoke refuses it; audit verify finds an edited row"
    )
    func tokensAndAudit() async throws {
        try await withServer { server, _, directory in
            let admin = ["MCLOUDS_TOKEN": "admin-token"]
            let created = try await runMClouds(
                ["token", "create", "--server", server.baseURL, "--name", "agent S-1", "--role", "site-agent", "--site", "S-1", "--json"],
                environment: admin)
            #expect(created.status == 0, "\(created.stderr)")
            let answer = try JSONDecoder().decode(JSONValue.self, from: Data(created.stdout.utf8))
            let secret = try #require(answer["secret"]?.stringValue)
            let id = try #require(answer["token"]?["id"]?.stringValue)
            // Without a token, or with a site agent's token, no token can be made.
            #expect(try await runMClouds(["token", "create", "--server", server.baseURL, "--name", "x", "--role", "student"]).status == 1)
            let asAgent = try await runMClouds(
                ["token", "create", "--server", server.baseURL, "--name", "x", "--role", "student"], environment: ["MCLOUDS_TOKEN": secret])
            #expect(asAgent.status == 1 && asAgent.stderr.contains("403"), "\(asAgent.stderr)")

            let report = SiteReportTests.report(template: "none", version: "1")
            let own = try await http(
                .POST, server.baseURL + "/api/v1/sites/S-1/report", headers: [("Authorization", "Bearer \(secret)")], body: report)
            #expect(own.status != 401 && own.status != 403, "\(own.status)")
            let other = try await http(
                .POST, server.baseURL + "/api/v1/sites/S-2/report", headers: [("Authorization", "Bearer \(secret)")], body: report)
            #expect(other.status == 403)

            let list = try await runMClouds(["token", "list", "--server", server.baseURL], environment: admin)
            #expect(list.status == 0 && list.stdout.contains(id) && list.stdout.contains("site-agent(S-1)") && !list.stdout.contains(secret))
            #expect(try await runMClouds(["token", "revoke", id, "--server", server.baseURL], environment: admin).status == 0)
            let revoked = try await http(
                .POST, server.baseURL + "/api/v1/sites/S-1/report", headers: [("Authorization", "Bearer \(secret)")], body: report)
            #expect(revoked.status == 401)

            // The audit log: the changes and refusals above, readable through the API, intact, and never the secret.
            let audit = try await runMClouds(["audit", "--server", server.baseURL, "--json"], environment: admin)
            #expect(audit.status == 0 && audit.stdout.contains("POST /api/v1/tokens") && audit.stdout.contains("403 refused"))
            #expect(!audit.stdout.contains(secret))
            let verified = try await runMClouds(["audit", "verify", "--data", directory.path])
            #expect(verified.status == 0 && verified.stdout.contains("intact"), "\(verified.stderr)")
            let database = try await SQLiteStore.open(path: DataDirectory(directory.path).databasePath, migrations: [])
            try await database.transaction { db in try await db.raw("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2").run() }
            let broken = try await runMClouds(["audit", "verify", "--data", directory.path])
            #expect(broken.status == 1 && broken.stderr.contains("entry 2"), "\(broken.stdout)\(broken.stderr)")
        }
    }
}
