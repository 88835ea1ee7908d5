import AsyncHTTPClient
import CloudStack
import CloudStackSimulator
import Core
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import TemplateRepository
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// nginx with `deploy/nginx/mclouds.conf` in front of two `mclouds server` processes on one PostgreSQL database and
/// one data directory.
@Suite("Two servers behind nginx")
struct LoadBalancerTests {
    /// nginx running the deployment example with its upstreams pointed at `backends`, on a free loopback port.
    final class Nginx: @unchecked Sendable {
        let process = Process()
        let directory: URL
        let port: Int
        var baseURL: String { "http://127.0.0.1:\(port)" }
        var accessLog: [String] {
            ((try? String(contentsOf: directory.appendingPathComponent("access.log"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        init(backends: [String], in directory: URL) throws {
            self.directory = directory
            port = try #require(LoopbackPorts.free())
            let example = try String(
                contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent("deploy/nginx/mclouds.conf"), encoding: .utf8)
            // The example as shipped, with this machine's addresses: its upstream servers and its listen line.
            var lines = example.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let upstreams = lines.indices.filter { lines[$0].trimmingCharacters(in: .whitespaces).hasPrefix("server 10.0.0.") }
            #expect(upstreams.count == backends.count)
            for (index, backend) in zip(upstreams, backends) {
                let options = lines[index].split(separator: " ").dropFirst(2).joined(separator: " ")
                lines[index] = "    server \(URL(string: backend)!.host!):\(URL(string: backend)!.port!) \(options)"
            }
            let listen = try #require(lines.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "listen 80;" })
            lines[listen] = "    listen 127.0.0.1:\(port);"
            try Data(lines.joined(separator: "\n").utf8).write(to: directory.appendingPathComponent("mclouds.conf"))
            for temporary in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
                try FileManager.default.createDirectory(at: directory.appendingPathComponent(temporary), withIntermediateDirectories: true)
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory.path)
            let root = directory.path
            let main = """
                worker_processes 1;
                daemon off;
                pid \(root)/nginx.pid;
                error_log \(root)/error.log notice;
                events { worker_connections 512; }
                http {
                    log_format upstream '$request_method $uri $status $upstream_addr $upstream_status';
                    access_log \(root)/access.log upstream;
                    client_body_temp_path \(root)/body;
                    proxy_temp_path \(root)/proxy;
                    fastcgi_temp_path \(root)/fastcgi;
                    uwsgi_temp_path \(root)/uwsgi;
                    scgi_temp_path \(root)/scgi;
                    include \(root)/mclouds.conf;
                }
                """
            try Data(main.utf8).write(to: directory.appendingPathComponent("nginx.conf"))
            process.executableURL = URL(fileURLWithPath: Tools.path("nginx") ?? "/usr/sbin/nginx")
            process.arguments = ["-p", root, "-e", "\(root)/error.log", "-c", "\(root)/nginx.conf"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        /// Waits until nginx answers /healthz from an instance.
        func waitUntilServing() async throws {
            for _ in 0..<200 {
                if let response = try? await HTTPClients.shared.execute(HTTPClientRequest(url: baseURL + "/healthz"), timeout: .seconds(2)),
                    response.status == .ok
                {
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw ServerProcessError(
                description: "nginx did not start: \(try String(contentsOf: directory.appendingPathComponent("error.log"), encoding: .utf8))")
        }

        func stop() async {
            kill(process.processIdentifier, SIGQUIT)
            await waitForExit(process)
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    @Test(
        "an agent syncs through nginx in front of two servers while one of them is killed: the other serves the rest, the image is whole and Ready",
        .enabled(if: TestDatabase.available.contains(.postgres) && Tools.available("nginx")), .timeLimit(.minutes(8)))
    func syncWhileAnInstanceDies() async throws {
        try await withTemporaryDirectory { directory in
            let url = try await TestDatabase.newPostgresDatabase()
            let data = directory.appendingPathComponent("data")
            let servers = try await ServerProcess.servers(2, data: data, database: url, token: "lb-admin-token", in: directory)
            defer { for server in servers { kill(server.pid, SIGKILL) } }
            let nginxDirectory = directory.appendingPathComponent("nginx")
            try FileManager.default.createDirectory(at: nginxDirectory, withIntermediateDirectories: true)
            let nginx = try Nginx(backends: servers.map(\.baseURL), in: nginxDirectory)
            try await nginx.waitUntilServing()

            // Published through nginx: the uploads go to both instances, streamed.
            let image = try randomImage(24_000_000)
            let imageFile = directory.appendingPathComponent("image.qcow2")
            try Data(image).write(to: imageFile)
            _ = try await RemotePublisher(client: RepositoryClient(baseURL: nginx.baseURL, token: "lb-admin-token")).publish(
                imageAt: imageFile.path,
                metadata: TemplateMetadata(name: "ubuntu", version: "1", format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS"))
            let publisherKey = try #require(
                servers[0].stdout.split(separator: "\n").first { $0.contains("publisher key: ") }?.split(separator: " ").last.map(String.init))

            var configuration = SimulatorConfiguration.default(regionName: "LB-Site")
            configuration.jobDurationMilliseconds = 50
            try await Simulator.withRunning(configuration, logger: quietLogger) { simulator in
                let keys = simulator.adminKeys
                let (file, agentDirectory) = try writeSlowAgentConfiguration(
                    central: nginx.baseURL, trustedKey: publisherKey, simulator: simulator, in: directory)
                let chunkLines = { nginx.accessLog.filter { $0.hasPrefix("GET /api/v1/chunks/") } }
                let sync = Task {
                    try await runMClouds(["agent", "sync", "--config", file.path], environment: ["MCLOUDS_CLOUDSTACK_SECRET": keys.secretkey!])
                }
                // Once chunks flow, one instance dies; 24 MB at 40 Mbit/s take about five seconds.
                while chunkLines().count < 3 { try await Task.sleep(for: .milliseconds(20)) }
                let victim = servers[0]
                let victimAddress = victim.baseURL.replacingOccurrences(of: "http://", with: "")
                await victim.kill9()
                let atKill = chunkLines().count
                let result = try await sync.value
                #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")

                // The kill landed inside the sync, the victim had served chunks, and the survivor served the rest.
                let lines = chunkLines()
                #expect(lines.count > atKill, "no chunk was fetched after the kill")
                #expect(lines[..<atKill].contains { $0.contains(victimAddress) })
                let survivorAddress = servers[1].baseURL.replacingOccurrences(of: "http://", with: "")
                #expect(lines[atKill...].allSatisfy { $0.contains(survivorAddress) || !$0.contains(" 200 ") && !$0.contains(" 206 ") })

                let client = CloudStackClient(
                    configuration: .init(endpoint: simulator.endpoint, apiKey: keys.apikey!, secretKey: keys.secretkey!, region: "LB-Site"))
                let templates = try await client.listTemplates(filter: .self, logger: quietLogger)
                #expect(templates.count == 1 && templates[0].isready == true, "\(templates.map { ($0.name ?? "", $0.status ?? "") })")
                let assembled = agentDirectory.appendingPathComponent("images/ubuntu-1.qcow2").path
                #expect(FileManager.default.contents(atPath: assembled).map { SHA256.hash(data: $0).hexString } == SHA256.hash(data: image).hexString)
            }
            await nginx.stop()
            await servers[1].stop()
        }
    }
}
