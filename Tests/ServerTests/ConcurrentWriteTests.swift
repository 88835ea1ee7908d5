import Core
import Foundation
import NIOHTTP1
import Server
import TemplateRepository
import TestSupport
import Testing

/// Many writers at once against one server on its SQLite store, and on PostgreSQL: every request answers success or a clear
/// conflict, none a 500, and nothing is lost.
@Suite("Concurrent writes on SQLite and PostgreSQL", .serialized)
struct ConcurrentWriteTests {
    static let admin = [("Authorization", "Bearer admin-token")]

    @Test(
        "20 parallel region adds, 20 parallel publishes of one template, 10 racing commits of one version, 20 parallel site reports",
        .timeLimit(.minutes(3)), arguments: TestDatabase.available)
    func parallelWriters(backend: TestDatabase) async throws {
        try await withServer(on: backend) { server, repository, directory in
            let base = server.baseURL
            // Regions.
            let regions = try await withThrowingTaskGroup(of: Int.self) { group in
                for id in 1...20 {
                    group.addTask {
                        let body =
                            #"{"id": \#(id), "name": "R-\#(id)", "endpoint": "https://cloud\#(id).example/client/api", "apiKey": "K", "secretKey": "S"}"#
                        return try await http(.POST, base + "/api/v1/regions", headers: Self.admin, body: Array(body.utf8)).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(regions.allSatisfy { $0 == 201 }, "\(regions)")
            let listed = try await http(.GET, base + "/api/v1/regions", headers: Self.admin)
            #expect(listed.json?["regions"]?.arrayValue?.count == 20 || listed.json?.arrayValue?.count == 20)

            // Publishes of different versions of one template, through the API.
            let publisher = RemotePublisher(client: RepositoryClient(baseURL: base, token: "admin-token"))
            let paths = try (0..<20).map { try writeFile(bytes(20_000, seed: 100 + UInt64($0)), in: directory) }
            let published = try await withThrowingTaskGroup(of: Bool.self) { group in
                for (index, path) in paths.enumerated() {
                    group.addTask { (try? await publisher.publish(imageAt: path, metadata: sampleMetadata("lab", "v\(index)"))) != nil }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(published.allSatisfy { $0 })
            #expect(try await repository.template("lab").versions.count == 20)

            // Racing commits of one version (same image): one creates it, the rest are told it exists; another image is a conflict.
            let same = try writeFile(bytes(20_000, seed: 300), in: directory)
            let other = try writeFile(bytes(20_000, seed: 301), in: directory)
            let racing = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<10 {
                    group.addTask {
                        do {
                            let report = try await publisher.publish(imageAt: index == 9 ? other : same, metadata: sampleMetadata("race", "1"))
                            return report.alreadyPublished ? 200 : 201
                        } catch let error as RepositoryClientError {
                            return error.status ?? -1
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(!racing.contains(500) && racing.allSatisfy { [200, 201, 409].contains($0) }, "\(racing)")
            #expect(racing.filter { $0 == 201 }.count <= 1)
            #expect(try await repository.template("race").versions.count == 1)

            // Site reports from 20 sites at once: every one kept.
            let reports = try await withThrowingTaskGroup(of: Int.self) { group in
                for site in 1...20 {
                    group.addTask {
                        try await http(
                            .POST, base + "/api/v1/sites/S-\(site)/report", headers: Self.admin,
                            body: SiteReportTests.report(template: "lab", version: "v0")
                        )
                        .status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(reports.allSatisfy { $0 == 200 }, "\(reports)")
            #expect(Set(try await repository.rollout().map(\.site)).count == 20)
        }
    }
}
