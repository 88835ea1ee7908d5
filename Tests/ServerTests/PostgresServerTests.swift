import Foundation
import Storage
import TemplateRepository
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("mclouds server on PostgreSQL")
struct PostgresServerTests {
    @Test(
        "mclouds server --database-url keeps the catalog in PostgreSQL: a remote publish, the listing and a restart on an empty data directory's database",
        .enabled(if: TestDatabase.available.contains(.postgres)))
    func serverOnPostgres() async throws {
        try await withTemporaryDirectory { directory in
            let admin = try #require(ProcessInfo.processInfo.environment["MCLOUDS_TEST_POSTGRES_URL"])
            let name = "srv_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            try await PostgresStore.createDatabase(name, adminURL: admin)
            var components = try #require(URLComponents(string: admin))
            components.path = "/" + name
            let url = try #require(components.string)

            /// Starts the server; returns it and its base URL once it listens.
            func start() async throws -> (Process, String) {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: mcloudsExecutable())
                process.arguments = ["server", "--data", directory.appendingPathComponent("data").path, "--port", "0", "--database-url", url]
                process.environment = ProcessInfo.processInfo.environment.merging(["MCLOUDS_ADMIN_TOKEN": "postgres-admin-token"]) { $1 }
                let output = directory.appendingPathComponent("stdout-\(UUID().uuidString)")
                _ = FileManager.default.createFile(atPath: output.path, contents: nil)
                process.standardOutput = try FileHandle(forWritingTo: output)
                process.standardError = FileHandle.nullDevice
                try process.run()
                for _ in 0..<400 {
                    let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                    if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("mclouds server listening on ") }) {
                        return (process, String(line.dropFirst("mclouds server listening on ".count)))
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                process.terminate()
                throw StorageError(path: url, reason: "the server did not start")
            }
            func stop(_ process: Process) {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }

            var (server, base) = try await start()
            let image = directory.appendingPathComponent("image.qcow2")
            try Data(QCOW2Header.stamped([UInt8](repeating: 7, count: 100_000))).write(to: image)
            let published = try await RemotePublisher(client: RepositoryClient(baseURL: base, token: "postgres-admin-token")).publish(
                imageAt: image.path,
                metadata: TemplateMetadata(name: "pg", version: "1", format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS"))
            #expect(published.catalogSerial == 1)
            stop(server)
            // Nothing of the catalog is in the data directory's SQLite file: it lives in PostgreSQL.
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("data/catalog.sqlite").path))

            (server, base) = try await start()
            defer { stop(server) }
            let listed = try await RepositoryClient(baseURL: base).templates()
            #expect(listed.templates.map(\.name) == ["pg"] && listed.templates[0].versions.map(\.version) == ["1"])
        }
    }
}
