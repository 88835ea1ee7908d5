import Core
import Foundation
import NIOHTTP1
import Server
import TemplateRepository
import TestSupport
import Testing

@Suite("Site reports are validated")
struct SiteReportTests {
    static let admin = [("Authorization", "Bearer admin-token")]

    static func report(
        template: String = "ubuntu-22.04", version: String = "1.0", state: String = "ready", downloaded: Int64 = 30_000, error: String? = nil
    )
        -> [UInt8]
    {
        let status = RolloutStatus(states: [
            SiteTemplateState(
                site: "x", template: template, version: version, state: state, bytesDownloaded: downloaded, bytesReused: 0, error: error)
        ])
        return Array(try! JSONEncoder().encode(status))
    }

    @Test(
        "unknown templates and versions, unknown states, absurd numbers and control characters are refused (400); nothing reaches the rollout",
        arguments: TestDatabase.available)
    func junkRefused(backend: TestDatabase) async throws {
        try await withServer(on: backend) { server, repository, directory in
            _ = try await repository.publish(imageAt: try writeFile(bytes(30_000, seed: 8), in: directory), metadata: sampleMetadata())
            let url = server.baseURL + "/api/v1/sites/MECA-TUS/report"
            for junk in [
                Self.report(template: "no-such"), Self.report(version: "9.9"), Self.report(state: "pwned"), Self.report(downloaded: -5),
                Self.report(downloaded: Int64.max), Self.report(error: "bad \u{1B}]0;owned\u{07} title"), Self.report(state: "ready\u{1B}[2J"),
                Self.report(template: "../../etc"),
            ] {
                let answer = try await http(.POST, url, headers: Self.admin, body: junk)
                #expect(answer.status == 400, "\(String(decoding: junk, as: UTF8.self))")
            }
            #expect(try await http(.POST, server.baseURL + "/api/v1/sites/bad%1Bsite/report", headers: Self.admin, body: Self.report()).status == 400)
            #expect(try await repository.rollout().isEmpty)
            let good = try await http(.POST, url, headers: Self.admin, body: Self.report(error: "CloudStack said: no space left"))
            #expect(good.status == 200)
            #expect(try await repository.rollout().map(\.site) == ["MECA-TUS"])
        }
    }

    @Test("terminal output escapes control characters from remote data")
    func consoleEscapes() {
        #expect(Console.escaped("plain text, tabs\tand\nnewlines") == "plain text, tabs\tand\nnewlines")
        #expect(Console.escaped("red \u{1B}[31m!") == "red \\x1b[31m!")
        #expect(Console.escaped("bell\u{07} csi\u{9B}") == "bell\\x07 csi\\u{9b}")
        #expect(!Console.escaped("\u{1B}]0;title\u{07}\r").unicodeScalars.contains(where: Console.isControl))
    }
}

@Suite("HTTP details")
struct HTTPDetailTests {
    @Test("the Authorization scheme is case-insensitive (bearer, BEARER); a wrong token is still refused", arguments: TestDatabase.available)
    func bearerCase(backend: TestDatabase) async throws {
        try await withServer(on: backend) { server, _, _ in
            let url = server.baseURL + "/api/v1/dashboard/collect"
            for scheme in ["Bearer", "bearer", "BEARER"] {
                let answer = try await http(.POST, url, headers: [("Authorization", "\(scheme) admin-token")])
                #expect(answer.status == 200, "\(scheme)")
            }
            let wrong = try await http(.POST, url, headers: [("Authorization", "bearer wrong")])
            let basic = try await http(.POST, url, headers: [("Authorization", "Basic admin-token")])
            #expect(wrong.status == 401 && basic.status == 401)
        }
    }
}
