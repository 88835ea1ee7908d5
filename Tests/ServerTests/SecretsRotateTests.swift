import CloudStack
import CloudStackSimulator
import Core
import Federation
import Foundation
import Logging
import NIOHTTP1
import SQLKit
import Server
import Storage
import TestSupport
import Testing

@Suite("mclouds secrets rotate")
struct SecretsRotateTests {
    @Test("rotation while the server runs: every secret sealed again under a new key, the old key retired, the server still reaches the region")
    func rotateWhileServing() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        try await Simulator.withRunning(.default(regionName: "MECA-TUS"), logger: logger) { simulator in
            try await withTemporaryDirectory { directory in
                let data = directory.appendingPathComponent("data")
                let key = directory.appendingPathComponent("master.key").path
                let added = try await runMClouds(
                    [
                        "region", "add", "--data", data.path, "--secrets-key", key, "--id", "6", "--name", "MECA-TUS", "--endpoint",
                        simulator.endpoint,
                        "--api-key", simulator.adminKeys.apikey!,
                    ], environment: ["MCLOUDS_REGION_SECRET": simulator.adminKeys.secretkey!])
                #expect(added.status == 0, "\(added.stderr)")
                let old = try SecretBox.keyIDs(keyFile: key)
                let token = "rotate-\(UUID().uuidString)"
                let server = try await ServerProcess.start(
                    ["server", "--data", data.path, "--secrets-key", key, "--port", "0", "--scrub-interval-hours", "0"],
                    environment: ["MCLOUDS_ADMIN_TOKEN": token], in: directory)
                defer { Task { await server.stop() } }
                let admin = [("Authorization", "Bearer \(token)")]
                func collect() async throws -> [String]? {
                    let answer = try await http(.POST, server.baseURL + "/api/v1/dashboard/collect", headers: admin)
                    return answer.json?["failed"]?.arrayValue?.compactMap(\.stringValue)
                }
                #expect(try await collect() == [])

                let rotated = try await runMClouds(["secrets", "rotate", "--data", data.path, "--secrets-key", key])
                #expect(rotated.status == 0, "\(rotated.stderr)")
                #expect(rotated.stdout.contains("Sealed 1 secret again") && rotated.stdout.contains("Retired key \(old[0])"), "\(rotated.stdout)")
                let now = try SecretBox.keyIDs(keyFile: key)
                #expect(now.count == 1 && now != old)
                let database = try await SQLiteStore.open(path: DataDirectory(data.path).databasePath, migrations: [])
                let sealed = try await database.withDatabase { db in
                    try await db.raw("SELECT secret_sealed FROM federation_regions").all().map {
                        try $0.decode(column: "secret_sealed", as: String.self)
                    }
                }
                #expect(sealed.count == 1 && sealed[0].hasPrefix("mcs1:\(now[0]):") && !sealed[0].contains(simulator.adminKeys.secretkey!))
                // The running server picked up the new ring: it still decrypts the region's secret and collects.
                #expect(try await collect() == [])
                // The rotation is in the audit log, never a key.
                let audit = try await http(.GET, server.baseURL + "/api/v1/audit?action=secrets", headers: admin)
                #expect(String(decoding: audit.body, as: UTF8.self).contains("secrets rotate"))
                // Staged and finished in two steps (several hosts): the same end.
                #expect(try await runMClouds(["secrets", "rotate", "--stage-only", "--data", data.path, "--secrets-key", key]).status == 0)
                #expect(try SecretBox.keyIDs(keyFile: key).count == 2)
                #expect(try await collect() == [])
                #expect(try await runMClouds(["secrets", "rotate", "--finish", "--data", data.path, "--secrets-key", key]).status == 0)
                #expect(try SecretBox.keyIDs(keyFile: key).count == 1)
                #expect(try await collect() == [])
            }
        }
    }
}
