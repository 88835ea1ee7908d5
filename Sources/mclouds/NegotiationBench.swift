import ArgumentParser
import AsyncHTTPClient
import Core
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import TemplateRepository

/// Which chunks a server lacks, asked for many digests at once: the server's peak memory and how long
/// `/healthz` waits meanwhile. The server is a child process (this executable, or `--server-executable`
/// for an older build), so its memory is measured alone.
struct NegotiationBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "negotiate",
        abstract: "Ask a server which of N digests it lacks (one request, or pages): server peak RSS, time, /healthz latency.")

    @Option(help: "Digests asked about.") var digests = 1_000_000
    @Option(help: "Negotiations at once.") var parallel = 1
    @Flag(help: "Ask in one request (what a client without paging does) instead of pages of 10,000.") var single = false
    @Option(help: "The mclouds executable to run the server from (default: this one).") var serverExecutable: String?

    func run() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mclouds-negotiate-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let token = BenchServer.randomToken()
        let server = try await BenchServer(
            executable: serverExecutable, arguments: ["--data", directory.path, "--collect-interval-minutes", "100000"], token: token)
        defer { server.stop() }
        let base = server.baseURL
        let idleRSS = Self.memory(of: server.process.processIdentifier).rss
        let all = (0..<digests).map { _ in (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined() }
        let page = single ? digests : MissingChunksRequest.pageLimit
        Console.line("\(digests) digests, \(parallel) negotiation(s) at once, \(single ? "one request each" : "pages of \(page)")")

        let worst = Mutex<Duration>(.zero)
        let done = Mutex(false)
        let prober = Task {
            while !done.withLock({ $0 }) {
                let started = ContinuousClock.now
                _ = try? await HTTPClients.shared.execute(.init(url: base + "/healthz"), timeout: .seconds(300))
                let took = ContinuousClock.now - started
                worst.withLock { $0 = max($0, took) }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        let started = ContinuousClock.now
        let outcomes = try await withThrowingTaskGroup(of: (missing: Int, status: Int).self) { group in
            for _ in 0..<parallel {
                group.addTask {
                    var missing = 0
                    for start in stride(from: 0, to: all.count, by: page) {
                        var request = HTTPClientRequest(url: base + "/api/v1/uploads/missing")
                        request.method = .POST
                        request.headers.add(name: "Authorization", value: "Bearer \(token)")
                        request.headers.add(name: "Content-Type", value: "application/json")
                        let body = try JSONEncoder().encode(MissingChunksRequest(digests: Array(all[start..<min(all.count, start + page)])))
                        request.body = .bytes(ByteBuffer(bytes: body))
                        let response = try await HTTPClients.shared.execute(request, timeout: .seconds(900))
                        let answer = try await response.body.collect(upTo: 1 << 30)
                        guard response.status == .ok else { return (missing, Int(response.status.code)) }
                        missing += try JSONDecoder().decode(MissingChunksResponse.self, from: Data(answer.readableBytesView)).missing.count
                    }
                    return (missing, 200)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        done.withLock { $0 = true }
        _ = await prober.result
        try await Task.sleep(for: .seconds(2))
        let memory = Self.memory(of: server.process.processIdentifier)
        Console.line(
            String(
                format: "answers: %@; %.2f s; server RSS idle %d MiB, peak %d MiB, %d MiB two seconds after; slowest /healthz meanwhile %.3f s",
                outcomes.map { $0.status == 200 ? "\($0.missing) missing" : "HTTP \($0.status)" }.joined(separator: ", "), seconds, idleRSS,
                memory.peak, memory.rss, worst.withLock { $0 } / .seconds(1)))
    }

    /// Resident and peak resident MiB of a process (from /proc).
    static func memory(of pid: Int32) -> (rss: Int, peak: Int) {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Int {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name) }
            return (Int(line?.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
        }
        return (field("VmRSS:"), field("VmHWM:"))
    }
}
