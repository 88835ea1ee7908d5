import Core
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
            let url = try await TestDatabase.newPostgresDatabase()
            let data = directory.appendingPathComponent("data")
            let token = ["MCLOUDS_ADMIN_TOKEN": "postgres-admin-token"]
            var server = try await ServerProcess.start(
                ["server", "--data", data.path, "--port", "0", "--database-url", url], environment: token, in: directory)
            let image = directory.appendingPathComponent("image.qcow2")
            try Data(QCOW2Header.stamped([UInt8](repeating: 7, count: 100_000))).write(to: image)
            let published = try await RemotePublisher(client: RepositoryClient(baseURL: server.baseURL, token: "postgres-admin-token")).publish(
                imageAt: image.path,
                metadata: TemplateMetadata(name: "pg", version: "1", format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS"))
            #expect(published.catalogSerial == 1)
            await server.stop()
            // Nothing of the catalog is in the data directory's SQLite file: it lives in PostgreSQL.
            #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("catalog.sqlite").path))

            // Again from a configuration file that names the database (database.url) and the data directory.
            let config = directory.appendingPathComponent("server.yaml")
            try Data("data: \(data.path)\nport: 0\ndatabase:\n  url: \(url)\n  poolSize: 4\n".utf8).write(to: config)
            server = try await ServerProcess.start(["server", "--config", config.path], environment: token, in: directory)
            let listed = try await RepositoryClient(baseURL: server.baseURL).templates()
            #expect(listed.templates.map(\.name) == ["pg"] && listed.templates[0].versions.map(\.version) == ["1"])
            await server.stop()
            #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("catalog.sqlite").path))

            // The data commands reach the same database: the CLI lists what the server published.
            let cli = try await runMClouds(["template", "list", "--data", data.path, "--database-url", url])
            #expect(cli.status == 0 && cli.stdout.contains("pg"), "\(cli.stdout)\(cli.stderr)")
        }
    }

    @Test("a configuration file with an unknown key or a bad database URL is refused with the file, line and field")
    func badConfiguration() async throws {
        try await withTemporaryDirectory { directory in
            let config = directory.appendingPathComponent("server.yaml")
            try Data("data: /tmp/x\ndatabase:\n  ur1: postgres://a@b/c\n".utf8).write(to: config)
            let unknown = try await runMClouds(["server", "--config", config.path])
            #expect(
                unknown.status != 0 && unknown.stderr.contains("server.yaml line 3: unknown key database.ur1 (did you mean url?)"),
                "\(unknown.stderr)")
            try Data("data: /tmp/x\ndatabase:\n  url: mysql://a@b/c\n".utf8).write(to: config)
            let scheme = try await runMClouds(["server", "--config", config.path])
            #expect(scheme.status != 0 && scheme.stderr.contains("The database URL must look like postgres://"), "\(scheme.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "/tmp/x/catalog.sqlite"))
        }
    }
}
