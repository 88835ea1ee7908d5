import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("A clean stop logs no errors and leaves nothing behind")
struct CleanStopTests {
    @Test("benchmarks end without error logs, and their simulators remove their temporary secondary storage")
    func benchmarks() async throws {
        try await withTemporaryDirectory { directory in
            for arguments in [
                ["bench", "dashboard", "--regions", "2", "--hosts", "4", "--vms", "20", "--wrk-seconds", "0"],
                ["bench", "simulator", "--regions", "2", "--hosts", "4", "--vms", "20", "--requests", "3"],
            ] {
                let result = try await runMClouds(arguments, environment: ["TMPDIR": directory.path])
                #expect(result.status == 0, "\(arguments): \(result.stderr)")
                #expect(!result.stderr.contains("error") && !result.stderr.contains("CancellationError"), "\(arguments): \(result.stderr)")
                let left = try FileManager.default.contentsOfDirectory(atPath: directory.path)
                #expect(left.isEmpty, "\(arguments) left files behind: \(left)")
            }
        }
    }

    @Test("mclouds simulator stopped with SIGTERM exits 0, logs no error and removes its temporary storage")
    func simulatorSigterm() async throws {
        try await withTemporaryDirectory { directory in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: mcloudsExecutable())
            process.arguments = ["simulator", "--port", "0", "--api-key", "K", "--secret-key", "S"]
            process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": directory.path]) { $1 }
            let errors = Pipe()
            process.standardError = errors
            let output = directory.appendingPathComponent("stdout")
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: output)
            try process.run()
            // Stopped only once it says it runs (its signal handlers are in place by then).
            var ready = false
            for _ in 0..<200 where !ready {
                try await Task.sleep(for: .milliseconds(50))
                ready = (try? String(contentsOf: output, encoding: .utf8))?.contains("Press Ctrl-C to stop.") == true
            }
            #expect(ready)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).contains { $0.hasPrefix("mclouds-simulator-") })
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 0, "\(stderr)")
            #expect(!stderr.contains(" error "), "\(stderr)")
            #expect(!(try FileManager.default.contentsOfDirectory(atPath: directory.path)).contains { $0.hasPrefix("mclouds-simulator-") })
        }
    }
}
