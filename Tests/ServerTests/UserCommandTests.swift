import Core
import Foundation
import NIOHTTP1
import Server
import TestSupport
import Testing

@Suite("mclouds admin create and mclouds user")
struct UserCommandTests {
    @Test(
        "admin create bootstraps offline (password from a file, none without a terminal); while a server runs, --data changes are refused and users are managed through it"
    )
    func bootstrapAndManage() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.appendingPathComponent("data")
            let password = directory.appendingPathComponent("password")
            try "the first admin's passphrase\n".write(to: password, atomically: true, encoding: .utf8)
            // No terminal and no file: no password, nothing made.
            let prompted = try await runMClouds(["admin", "create", "--data", data.path, "--username", "root"])
            #expect(prompted.status != 0 && prompted.stderr.contains("--password-file"), "\(prompted.stderr)")
            let weak = directory.appendingPathComponent("weak")
            try "short\n".write(to: weak, atomically: true, encoding: .utf8)
            let refused = try await runMClouds(["admin", "create", "--data", data.path, "--username", "root", "--password-file", weak.path])
            #expect(refused.status == 1 && refused.stderr.contains("too short"), "\(refused.stderr)")
            let created = try await runMClouds(["admin", "create", "--data", data.path, "--username", "root", "--password-file", password.path])
            #expect(created.status == 0, "\(created.stderr)")
            #expect(!created.stdout.contains("passphrase") && !created.stderr.contains("passphrase"))

            let token = "bootstrap-\(UUID().uuidString)"
            let server = try await ServerProcess.start(
                ["server", "--data", data.path, "--port", "0", "--scrub-interval-hours", "0"], environment: ["MCLOUDS_ADMIN_TOKEN": token],
                in: directory)
            defer { Task { await server.stop() } }
            // The admin made offline logs in.
            let form = try await http(.GET, server.baseURL + "/login")
            let csrf = try #require(Browser.csrf(in: form))
            var browser = Browser(server.baseURL)
            browser.cookies["mclouds_login"] = csrf
            let login = try await browser.send(
                .POST, "/login", form: [("csrf", csrf), ("username", "root"), ("password", "the first admin's passphrase")])
            #expect(login.status == 303)

            // While the server holds the data directory, writing into it directly is refused.
            let offline = try await runMClouds(["admin", "create", "--data", data.path, "--username", "second", "--password-file", password.path])
            #expect(offline.status == 1 && offline.stderr.contains("A server is running"), "\(offline.stderr)")
            let region = try await runMClouds(
                ["region", "add", "--data", data.path, "--id", "1", "--name", "R", "--endpoint", "http://127.0.0.1:9/client/api", "--api-key", "K"],
                environment: ["MCLOUDS_REGION_SECRET": "S"])
            #expect(region.status == 1 && region.stderr.contains("--server"), "\(region.stderr)")

            // Through the server, with a token: add, list, disable, reset.
            let admin = ["MCLOUDS_TOKEN": token]
            let studentPassword = directory.appendingPathComponent("student")
            try "a student's passphrase\n".write(to: studentPassword, atomically: true, encoding: .utf8)
            let added = try await runMClouds(
                ["user", "add", "sam", "--role", "student", "--name", "Sam", "--password-file", studentPassword.path, "--server", server.baseURL],
                environment: admin)
            #expect(added.status == 0, "\(added.stderr)")
            let anonymous = try await runMClouds(
                ["user", "add", "eve", "--role", "federation-admin", "--password-file", studentPassword.path, "--server", server.baseURL])
            #expect(anonymous.status == 1 && anonymous.stderr.contains("401"), "\(anonymous.stderr)")
            let list = try await runMClouds(["user", "list", "--server", server.baseURL], environment: admin)
            #expect(list.status == 0 && list.stdout.contains("root  federation-admin") && list.stdout.contains("sam  student"), "\(list.stdout)")
            #expect(!list.stdout.contains("$2b$"))
            #expect(try await runMClouds(["user", "disable", "sam", "--server", server.baseURL], environment: admin).status == 0)
            let disabled = try await runMClouds(["user", "list", "--server", server.baseURL, "--json"], environment: admin)
            #expect(disabled.stdout.contains("\"disabled\""))
            #expect(try await runMClouds(["user", "enable", "sam", "--server", server.baseURL], environment: admin).status == 0)
            let reset = try await runMClouds(
                ["user", "reset-password", "sam", "--password-file", password.path, "--server", server.baseURL], environment: admin)
            #expect(reset.status == 0, "\(reset.stderr)")
            let unknown = try await runMClouds(["user", "disable", "nobody", "--server", server.baseURL], environment: admin)
            #expect(unknown.status == 1 && unknown.stderr.contains("404"), "\(unknown.stderr)")

            // Each change is in the audit log, by the bootstrap token, never with a password.
            let audit = try await runMClouds(["audit", "--server", server.baseURL, "--json"], environment: admin)
            #expect(audit.stdout.contains("POST /api/v1/users") && audit.stdout.contains("/api/v1/users/{username}/password"))
            #expect(!audit.stdout.contains("passphrase"))
            await server.stop()
            // Stopped: the directory is free for offline bootstrap again.
            let after = try await runMClouds([
                "admin", "create", "--data", data.path, "--username", "second", "--password-file", studentPassword.path,
            ])
            #expect(after.status == 0, "\(after.stderr)")
        }
    }
}
