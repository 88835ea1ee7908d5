import Core
import Foundation
import TestSupport
import Testing

@Suite("The mclouds simulator command")
struct CommandLineTests {
    @Test("`mclouds simulator --port 0 --api-key K --secret-key S` serves cs, refuses a wrong secret and stops cleanly on SIGINT")
    func simulatorCommand() async throws {
        let binary = mcloudsExecutable()
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the mclouds executable first (swift build --build-tests)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["simulator", "--port", "0", "--api-key", "CLIKEY", "--secret-key", "CLISECRET", "--region-name", "CLI-Region"]
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = FileHandle.nullDevice
        let exited = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { exited.continuation.yield($0.terminationStatus) }
        try process.run()

        var endpoint: String?
        for _ in 0..<300 where endpoint == nil {
            let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
            if text.contains("Press Ctrl-C") {
                endpoint = text.split(separator: "\n").first { $0.hasPrefix("CLI-Region") }?.split(separator: " ").last.map(String.init)
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let api = try #require(endpoint, "the simulator did not print its endpoint")
        #expect(api.hasPrefix("http://127.0.0.1:") && api.hasSuffix("/client/api"))
        #expect((try String(contentsOf: out, encoding: .utf8)).contains("api key:    CLIKEY"))

        if let cs = peer("MCLOUDS_CS") {
            let env = ["CLOUDSTACK_ENDPOINT": api, "CLOUDSTACK_KEY": "CLIKEY", "CLOUDSTACK_SECRET": "CLISECRET"]
            let zones = try await runProgram(cs, ["listZones"], environment: env)
            #expect(zones.status == 0 && json(zones.stdout)?["count"]?.intValue == 1)
            let wrong = try await runProgram(cs, ["listZones"], environment: env.merging(["CLOUDSTACK_SECRET": "WRONG"]) { $1 })
            #expect(wrong.status == 1 && wrong.stdout.contains("unable to verify user credentials and/or request signature"))
        }

        process.interrupt()
        var status: Int32?
        for await s in exited.stream {
            status = s
            break
        }
        #expect(status == 0)
    }
}
