import AsyncHTTPClient
import Core
import Foundation
import NIOCore
import NIOHTTP1

/// A `mclouds server` run by a benchmark as a child process (this executable, or an older build's), on a free
/// loopback port, so that its memory and time are its own; stopped with SIGTERM.
final class BenchServer {
    let process = Process()
    let baseURL: String

    /// Starts `server --port P arguments…` with `token` as its admin token and waits (at most 30 s) until
    /// `/healthz` answers.
    /// - Throws: ``CLIError`` when no port is free or the server never answers.
    init(executable: String? = nil, arguments: [String], token: String) async throws {
        guard let port = LoopbackPorts.free() else { throw CLIError("No free port on 127.0.0.1 for a server under test.") }
        baseURL = "http://127.0.0.1:\(port)"
        process.executableURL = URL(fileURLWithPath: executable ?? CommandLine.arguments[0])
        process.arguments = ["server", "--port", String(port)] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["MCLOUDS_ADMIN_TOKEN": token]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<600 {
            if (try? await HTTPClients.shared.execute(.init(url: baseURL + "/healthz"), timeout: .seconds(1)))?.status == .ok { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw CLIError("The server under test did not start (\(process.arguments?.joined(separator: " ") ?? "")).")
    }

    /// A 256-bit admin token for a server under test.
    static func randomToken() -> String {
        (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
