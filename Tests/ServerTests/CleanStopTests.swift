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
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty, "\(arguments) left files behind")
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
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // Wait until its secondary storage exists (it is listening soon after).
            for _ in 0..<100 where (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.isEmpty ?? true {
                try await Task.sleep(for: .milliseconds(50))
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(!(try FileManager.default.contentsOfDirectory(atPath: directory.path)).isEmpty)
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 0, "\(stderr)")
            #expect(!stderr.contains(" error "), "\(stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        }
    }
}
