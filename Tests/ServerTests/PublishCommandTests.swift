import Core
import Foundation
import Server
import TemplateRepository
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the built `mclouds`; returns its exit status and standard output.
private func run(_ arguments: [String], token: String? = nil) async throws -> (status: Int32, stdout: String) {
    let result = try await runMClouds(arguments, environment: token.map { ["MCLOUDS_TOKEN": $0] } ?? [:])
    return (result.status, result.stdout)
}

@Suite("mclouds template publish")
struct PublishCommandTests {
    @Test(
        "kill -9 during a publish lists nothing and leaves no publish running; publishing again marks it interrupted and does not re-store what was stored"
    )
    func killDuringPublish() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = directory.appendingPathComponent("image.raw").path
        let size = 128 << 20
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        try random.readData(ofLength: size).write(to: URL(fileURLWithPath: image))
        let data = directory.appendingPathComponent("data").path
        let arguments = [
            "template", "publish", image, "--name", "big", "--version", "1", "--format", "RAW", "--hypervisor", "KVM", "--os-type",
            "Other Linux (64-bit)",
            "--data", data, "--json",
        ]
        // The data directory (and its key) exist before the publish starts, so the test can watch it.
        let repository = try await DataDirectory(data).openRepository()

        let process = Process()
        process.executableURL = URL(fileURLWithPath: mcloudsExecutable())
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The watcher is a thread of its own, so a busy test pool cannot delay the kill past the publish's end:
        // it kills the publish early in its pass, once chunks sit in a few of the 256 folders.
        let chunkFolders = repository.chunks.root.path
        let pid = process.processIdentifier
        let watcher = Thread {
            while process.isRunning {
                if (try? FileManager.default.contentsOfDirectory(atPath: chunkFolders).count) ?? 0 >= 8 {
                    kill(pid, SIGKILL)
                    return
                }
                usleep(500)
            }
        }
        watcher.start()
        var listedWhileRunning = false
        while process.isRunning {
            if try await !repository.templates().isEmpty { listedWhileRunning = true }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.waitUntilExit()
        try #require(process.terminationReason == .uncaughtSignal, "the publish finished before it could be killed")
        #expect(!listedWhileRunning)
        #expect(try await repository.templates().isEmpty)
        // Nothing runs any more, whatever the killed process recorded.
        #expect(try await repository.unfinishedPublishes().isEmpty)
        #expect(try await repository.publishHistory().map(\.state) == ["running"])
        let storedAtKill = try repository.chunks.allDigests().count
        #expect(storedAtKill > 0)

        let again = try await run(arguments)
        #expect(again.status == 0)
        let report = try JSONDecoder().decode(PublishReport.self, from: Data(again.stdout.utf8))
        #expect(report.size == Int64(size))
        #expect(report.newChunks == report.chunks - storedAtKill)
        #expect(report.newBytes < report.size)
        // The next publish marked the killed one as interrupted.
        let history = try await repository.publishHistory()
        #expect(history.map(\.state).sorted() == ["committed", "failed"])
        #expect(history.first { $0.state == "failed" }?.error?.hasPrefix("interrupted") == true)
        let listed = try await repository.template("big")
        #expect(listed.versions.map(\.version) == ["1"])
        let manifest = try await repository.manifest(name: "big", version: "1")
        #expect(try manifest.chunks.allSatisfy { try repository.chunks.contains($0.digest) })
    }

    @Test("publish --server uploads through the API; list, deprecate and withdraw work remotely; gc frees the withdrawn chunks")
    func remoteCommands() async throws {
        try await withServer { server, repository, directory in
            let image = try writeFile(bytes(300_000, seed: 60), in: directory)
            let common = ["--format", "QCOW2", "--hypervisor", "KVM", "--os-type", "Ubuntu 22.04 LTS", "--server", server.baseURL]
            let refused = try await run(["template", "publish", image, "--name", "remote", "--version", "1"] + common)
            #expect(refused.status == 1)
            let published = try await run(
                ["template", "publish", image, "--name", "remote", "--version", "1", "--json"] + common, token: "admin-token")
            #expect(published.status == 0)
            let report = try JSONDecoder().decode(PublishReport.self, from: Data(published.stdout.utf8))
            #expect(report.size == 300_000 && report.newBytes == 300_000)

            let list = try await run(["template", "list", "--server", server.baseURL, "--json"])
            let templates = try JSONDecoder().decode(TemplateList.self, from: Data(list.stdout.utf8)).templates
            #expect(templates.map(\.name) == ["remote"])
            #expect(try await run(["template", "deprecate", "remote@1", "--server", server.baseURL], token: "admin-token").status == 0)
            #expect(try await repository.template("remote").versions[0].state == .deprecated)
            #expect(try await run(["template", "withdraw", "remote@1", "--server", server.baseURL], token: "admin-token").status == 0)
            #expect(try await repository.template("remote").versions[0].state == .withdrawn)

            let gc = try await run(["template", "gc", "--data", directory.path, "--grace", "0", "--json"])
            let collected = try JSONDecoder().decode(GarbageReport.self, from: Data(gc.stdout.utf8))
            #expect(collected.removed == report.chunks && collected.live == 0)
            #expect(try repository.chunks.allDigests().isEmpty)
        }
    }

    @Test("bad input gets a clear error, exit status 1, and leaves nothing behind")
    func badInput() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data").path
        let common = ["--format", "QCOW2", "--hypervisor", "KVM", "--os-type", "Ubuntu 22.04 LTS", "--data", data]
        let missing = try await run(["template", "publish", "/nonexistent.qcow2", "--name", "a", "--version", "1"] + common)
        #expect(missing.status == 1)
        let traversal = try await run(["template", "publish", "/nonexistent.qcow2", "--name", "../../etc", "--version", "1"] + common)
        #expect(traversal.status == 1)
        let unknown = try await run(["template", "show", "nothing@1", "--data", data])
        #expect(unknown.status == 1)
        // Nothing was created by the refused publishes, so there is no repository to list.
        let list = try await run(["template", "list", "--data", data, "--json"])
        #expect(list.status == 1 && !FileManager.default.fileExists(atPath: data))
    }
}
