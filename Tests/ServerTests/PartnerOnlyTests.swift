import Access
import Core
import Foundation
import NIOHTTP1
import Server
import SyncAgent
import TemplateRepository
import TestSupport
import Testing

/// Partner-only templates (licensed images): listed in the public signed catalog, but their manifests and the
/// chunks only they hold are served to authenticated callers only.
@Suite("Partner-only templates")
struct PartnerOnlyTests {
    @Test(
        "a partner-only template's manifest and own chunks need a token; chunks a public template shares stay public",
        arguments: TestDatabase.available)
    func partnerOnly(backend: TestDatabase) async throws {
        try await withServer(on: backend) { server, repository, directory in
            // Two images sharing their first 60 kB: the shared chunks belong to a public template too.
            let shared = bytes(60_000, seed: 41)
            let licensed = shared + Array(bytes(60_000, seed: 42).dropFirst(512))
            let open = shared + Array(bytes(60_000, seed: 43).dropFirst(512))
            _ = try await repository.publish(imageAt: try writeFile(licensed, in: directory), metadata: sampleMetadata("windows-11", "1"))
            _ = try await repository.publish(imageAt: try writeFile(open, in: directory), metadata: sampleMetadata("ubuntu-22.04", "1"))
            let admin = [("Authorization", "Bearer admin-token")]
            let access = try #require(server.access)
            let (_, agent) = try await access.tokens.create(name: "agent", role: .siteAgent, scope: "S-1", expires: Date().addingTimeInterval(3600))
            let site = [("Authorization", "Bearer \(agent)")]

            let windows = try await repository.manifest(name: "windows-11", version: "1").chunks.map(\.digest)
            let ubuntu = Set(try await repository.manifest(name: "ubuntu-22.04", version: "1").chunks.map(\.digest))
            let own = try #require(windows.first { !ubuntu.contains($0) })
            let common = try #require(windows.first { ubuntu.contains($0) })

            let manifest = "/api/v1/templates/windows-11/versions/1/manifest"
            #expect(try await http(.GET, server.baseURL + manifest).status == 200)
            let marked = try await http(
                .POST, server.baseURL + "/api/v1/templates/windows-11/access", headers: admin, body: Array(#"{"partnerOnly": true}"#.utf8))
            #expect(marked.status == 200 && marked.json?["partnerOnly"]?.boolValue == true)
            #expect(
                try await http(
                    .POST, server.baseURL + "/api/v1/templates/windows-11/access", headers: site, body: Array(#"{"partnerOnly": false}"#.utf8)
                ).status == 403)

            // Anonymous: no manifest, none of its own chunks; the catalog still lists it; the shared chunk is public.
            #expect(try await http(.GET, server.baseURL + manifest).status == 401)
            #expect(try await http(.GET, server.baseURL + "/api/v1/chunks/\(own)").status == 401)
            #expect(try await http(.HEAD, server.baseURL + "/api/v1/chunks/\(own)").status == 401)
            #expect(try await http(.GET, server.baseURL + "/api/v1/chunks/\(common)").status == 200)
            #expect(try await http(.GET, server.baseURL + "/api/v1/templates/ubuntu-22.04/versions/1/manifest").status == 200)
            let catalog = String(decoding: try await http(.GET, server.baseURL + "/api/v1/catalog").body, as: UTF8.self)
            #expect(catalog.contains("windows-11"))
            // A site agent's token gets them, and no shared cache may keep them.
            let withToken = try await http(.GET, server.baseURL + "/api/v1/chunks/\(own)", headers: site)
            #expect(withToken.status == 200 && withToken.headers.first(name: "Cache-Control")?.hasPrefix("private") == true)
            #expect(try await http(.GET, server.baseURL + manifest, headers: site).status == 200)

            // Withdrawing the public template leaves the shared chunk to the partner-only one alone.
            _ = try await repository.setState(.withdrawn, name: "ubuntu-22.04", version: "1")
            #expect(try await http(.GET, server.baseURL + "/api/v1/chunks/\(common)").status == 401)

            // The agent's fetcher sends its token to the central server: it gets the chunk; without, it does not.
            let image = try await repository.manifest(name: "windows-11", version: "1")
            var policy = ChunkFetcher.Policy()
            policy.attempts = 1
            let anonymous = ChunkFetcher(
                mirrors: [server.baseURL], images: try ImageCache(directory: directory.appendingPathComponent("anonymous")),
                partialDirectory: directory.appendingPathComponent("partial-anonymous"), policy: policy)
            await #expect(throws: (any Error).self) { try await anonymous.fetchImage(image) }
            let fetcher = ChunkFetcher(
                mirrors: [server.baseURL], images: try ImageCache(directory: directory.appendingPathComponent("agent")),
                partialDirectory: directory.appendingPathComponent("partial"), policy: policy, tokens: [server.baseURL + "/": agent])
            let report = try await fetcher.fetchImage(image)
            #expect(report.downloadedChunks > 0)

            // Public again: all of it is open.
            #expect(
                try await http(
                    .POST, server.baseURL + "/api/v1/templates/windows-11/access", headers: admin, body: Array(#"{"partnerOnly": false}"#.utf8)
                ).status == 200)
            #expect(try await http(.GET, server.baseURL + manifest).status == 200)
            #expect(try await http(.GET, server.baseURL + "/api/v1/chunks/\(own)").status == 200)
            #expect(
                try await http(
                    .POST, server.baseURL + "/api/v1/templates/nothing/access", headers: admin, body: Array(#"{"partnerOnly": true}"#.utf8)
                ).status == 404)
        }
    }
}
