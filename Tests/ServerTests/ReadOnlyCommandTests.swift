import Core
import Foundation
import Server
import TestSupport
import Testing

@Suite("Read-only commands change nothing")
struct ReadOnlyCommandTests {
    /// Every file and folder under `directory`, relative.
    static func tree(_ directory: URL) -> [String] {
        let paths = FileManager.default.enumerator(atPath: directory.path)?.allObjects as? [String] ?? []
        return paths.sorted()
    }

    @Test("reads on a missing data directory fail with a clear message and create nothing (no directory, no key)")
    func missingDirectory() async throws {
        try await withTemporaryDirectory { directory in
            let typo = directory.appendingPathComponent("typo").path
            for arguments in [
                ["template", "list", "--data", typo], ["template", "show", "x", "--data", typo], ["template", "withdraw", "x@1", "--data", typo],
                ["template", "gc", "--data", typo], ["region", "list", "--data", typo], ["region", "show", "1", "--data", typo],
                ["region", "sync", "--data", typo, "--dry-run"], ["region", "remove", "1", "--data", typo],
            ] {
                let result = try await runMClouds(arguments)
                #expect(result.status == 1, "\(arguments)")
                #expect(result.stderr.contains("no mClouds data directory"), "\(arguments): \(result.stderr)")
                #expect(!FileManager.default.fileExists(atPath: typo), "\(arguments) created \(typo)")
            }
        }
    }

    @Test("reads on an empty data directory or a repository without regions leave every file as it was")
    func emptyAndExisting() async throws {
        try await withTemporaryDirectory { directory in
            let empty = directory.appendingPathComponent("empty")
            try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
            #expect(try await runMClouds(["template", "list", "--data", empty.path]).status == 1)
            #expect(try await runMClouds(["region", "list", "--data", empty.path]).status == 1)
            #expect(Self.tree(empty).isEmpty)

            // A repository made by the server's start-up path: region list reads it without making a secrets key.
            let data = directory.appendingPathComponent("data")
            _ = try await DataDirectory(data.path).openRepository()
            let before = Self.tree(data)
            #expect(!before.contains("keys/secrets.aes256"))
            let list = try await runMClouds(["region", "list", "--data", data.path])
            #expect(list.status == 0, "\(list.stderr)")
            let templates = try await runMClouds(["template", "list", "--data", data.path])
            #expect(templates.status == 0, "\(templates.stderr)")
            #expect(Self.tree(data).filter { !$0.hasPrefix("catalog.sqlite-") } == before.filter { !$0.hasPrefix("catalog.sqlite-") })
            #expect(!FileManager.default.fileExists(atPath: data.appendingPathComponent("keys/secrets.aes256").path))
        }
    }

    @Test("keys are created by the first publish and by region add, and each says so")
    func keysCreatedOnlyByWrites() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.appendingPathComponent("data").path
            let image = directory.appendingPathComponent("disk.raw")
            try Data(repeating: 7, count: 1 << 20).write(to: image)
            let publish = try await runMClouds([
                "template", "publish", image.path, "--name", "t", "--version", "1", "--format", "RAW", "--hypervisor", "KVM", "--os-type",
                "Other Linux (64-bit)", "--data", data,
            ])
            #expect(publish.status == 0, "\(publish.stderr)")
            #expect(publish.stderr.contains("Created a publisher key"))
            let add = try await runMClouds(
                ["region", "add", "--data", data, "--id", "1", "--name", "R", "--endpoint", "http://127.0.0.1:9/client/api", "--api-key", "K"],
                environment: ["MCLOUDS_REGION_SECRET": "S"])
            #expect(add.status == 0, "\(add.stderr)")
            #expect(add.stderr.contains("Created the secrets key"))
            let again = try await runMClouds(
                ["region", "add", "--data", data, "--id", "2", "--name", "R2", "--endpoint", "http://127.0.0.1:9/client/api", "--api-key", "K"],
                environment: ["MCLOUDS_REGION_SECRET": "S"])
            #expect(again.status == 0 && !again.stderr.contains("Created"))
        }
    }
}

@Suite("template publish refuses bad input before it creates anything")
struct PublishRefusalCommandTests {
    @Test("a 3-byte QCOW2, an empty RAW and an unknown --os-type: exit 1, a message naming the problem, no data directory")
    func refusals() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.appendingPathComponent("data").path
            let tiny = directory.appendingPathComponent("tiny.qcow2")
            try Data([0x51, 0x46, 0x49]).write(to: tiny)
            let empty = directory.appendingPathComponent("empty.raw")
            try Data().write(to: empty)
            let good = directory.appendingPathComponent("good.raw")
            try Data(repeating: 0, count: 4096).write(to: good)
            for (file, format, osType, words) in [
                (tiny, "QCOW2", "Ubuntu 22.04 LTS", "QCOW2 magic"), (empty, "RAW", "Ubuntu 22.04 LTS", "empty"),
                (good, "RAW", "Ubuntu 22.04", "did you mean \"Ubuntu 22.04 LTS\""),
            ] {
                let result = try await runMClouds([
                    "template", "publish", file.path, "--name", "t", "--version", "1", "--format", format, "--hypervisor", "KVM", "--os-type", osType,
                    "--data", data,
                ])
                #expect(result.status == 1)
                #expect(result.stderr.contains(words), "\(result.stderr)")
                #expect(!FileManager.default.fileExists(atPath: data))
            }
        }
    }
}
