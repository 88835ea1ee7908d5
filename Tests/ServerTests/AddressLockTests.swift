import Access
import Foundation
import Server
import TestSupport
import Testing

@Suite("IP locks")
struct AddressLockTests {
    @Test(
        "real sockets from 127.0.0.2 (a partner) and 127.0.0.3 (not): admin calls only from the partner, downloads from both; a forged X-Forwarded-For is ignored, a trusted proxy's believed"
    )
    func allowlists() async throws {
        try await withTemporaryDirectory { directory in
            let server = try await ServerProcess.start(
                [
                    "server", "--data", directory.appendingPathComponent("data").path, "--port", "0", "--host", "0.0.0.0",
                    "--scrub-interval-hours", "0", "--allow", "admin=127.0.0.2/32,2001:db8::/32", "--allow", "agent=127.0.0.2",
                    "--trusted-proxy", "127.0.0.4",
                ], environment: ["MCLOUDS_ADMIN_TOKEN": "lock-token"], in: directory)
            defer { kill(server.pid, SIGKILL) }
            let port = try #require(URL(string: server.baseURL)?.port)
            let token = [("Authorization", "Bearer lock-token")]
            func status(_ source: String, _ method: String, _ path: String, _ headers: [(String, String)] = []) async throws -> Int {
                try await httpStatus(from: source, to: "127.0.0.1", port: port, method, path, headers: headers)
            }
            #expect(try await status("127.0.0.2", "GET", "/api/v1/regions", token) == 200)
            #expect(try await status("127.0.0.3", "GET", "/api/v1/regions", token) == 403)  // right token, wrong network
            #expect(try await status("127.0.0.3", "GET", "/api/v1/catalog") == 200)  // downloads are not locked here
            #expect(try await status("127.0.0.3", "GET", "/healthz") == 200)
            // A forged header from an untrusted peer changes nothing.
            #expect(try await status("127.0.0.3", "GET", "/api/v1/regions", token + [("X-Forwarded-For", "127.0.0.2")]) == 403)
            // The trusted proxy forwards for the partner: admitted; for anyone else: refused.
            #expect(try await status("127.0.0.4", "GET", "/api/v1/regions", token + [("X-Forwarded-For", "127.0.0.2")]) == 200)
            #expect(try await status("127.0.0.4", "GET", "/api/v1/regions", token + [("X-Forwarded-For", "127.0.0.3")]) == 403)
            #expect(try await status("127.0.0.3", "POST", "/api/v1/sites/S-1/report", token) == 403)

            // The CLI on 127.0.0.1 is outside the admin network too, and told why.
            let audit = try await runMClouds(
                ["audit", "--server", "http://127.0.0.1:\(port)", "--json"], environment: ["MCLOUDS_TOKEN": "lock-token"])
            #expect(audit.status == 1 && audit.stderr.contains("not allowed from 127.0.0.1"), "\(audit.stderr)")
            // Refusals are logged with the client's address (the forwarded one behind the trusted proxy).
            let refusals = server.stderr.split(separator: "\n").filter { $0.contains("request refused") }
            #expect(refusals.contains { $0.contains("source=127.0.0.3") } && !refusals.contains { $0.contains("source=127.0.0.4") }, "\(refusals)")
            await server.stop()
        }
    }

    @Test("every route is in the group its path says: pages of people's accounts in login, student pages in students, agents' reports in agent")
    func routeGroups() {
        func group(_ method: String, _ path: String) -> AddressPolicy.Group? {
            MCloudsServer.routes.first { $0.method == method && $0.path == path }?.group
        }
        #expect(group("GET", "/healthz") == nil)
        #expect(group("POST", "/login") == .login && group("GET", "/account") == .login)
        #expect(group("POST", "/api/v1/sites/{site}/report") == .agent)
        #expect(group("GET", "/api/v1/chunks/{digest}") == .downloads && group("GET", "/") == .web)
        #expect(group("POST", "/api/v1/regions") == .admin)
        #expect(RouteDescription(method: "GET", path: "/my/seats", policy: .people).group == .students)
        #expect(RouteDescription(method: "GET", path: "/api/v1/my/seats", policy: .people).group == .students)
        #expect(RouteDescription(method: "GET", path: "/mystery", policy: .people).group == .admin)
    }

    @Test("a bad --allow is refused with the group or network named")
    func badAllow() async throws {
        let group = try await runMClouds(["server", "--data", "/tmp/nowhere-\(UUID().uuidString)", "--allow", "admins=10.0.0.0/8"])
        #expect(group.status != 0 && group.stderr.contains("GROUP one of admin, agent, downloads, web"), "\(group.stderr)")
        let network = try await runMClouds(["server", "--data", "/tmp/nowhere-\(UUID().uuidString)", "--allow", "admin=10.0.0.0/40"])
        #expect(network.status != 0 && network.stderr.contains("10.0.0.0/40 is not an address or network"), "\(network.stderr)")
    }
}

@Suite("Secrets key at rest")
struct SecretsKeyTests {
    @Test(
        "the server warns at start-up when the secrets key lies in the data directory or is readable by others; --secrets-key outside, mode 0600, silences both"
    )
    func secretsKeyWarnings() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.appendingPathComponent("data")
            var server = try await ServerProcess.start(
                ["server", "--data", data.path, "--port", "0", "--scrub-interval-hours", "0"], in: directory)
            await server.stop()
            #expect(server.stderr.contains("lies in the data directory"), "\(server.stderr)")
            let inside = data.appendingPathComponent("keys/secrets.aes256").path
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: inside)
            server = try await ServerProcess.start(["server", "--data", data.path, "--port", "0", "--scrub-interval-hours", "0"], in: directory)
            await server.stop()
            #expect(server.stderr.contains("is readable by others (mode 644)"), "\(server.stderr)")

            // Kept outside: a new key is made there, mode 0600, and nothing is said.
            let outside = directory.appendingPathComponent("etc/master.key").path
            server = try await ServerProcess.start(
                [
                    "server", "--data", data.appendingPathComponent("second").path, "--port", "0", "--scrub-interval-hours", "0", "--secrets-key",
                    outside,
                ],
                in: directory)
            await server.stop()
            #expect(!server.stderr.contains("secrets key"), "\(server.stderr)")
            let mode = try FileManager.default.attributesOfItem(atPath: outside)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("second/keys/secrets.aes256").path))
        }
    }
}
