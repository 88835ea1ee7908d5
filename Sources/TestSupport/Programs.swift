import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a program to completion without blocking a Swift concurrency thread (tests run many at once on
/// few cores): output goes to files, the exit is awaited through the termination handler; `input`, if given, is
/// the program's standard input.
public func runProgram(_ path: String, _ arguments: [String], environment: [String: String] = [:], input: Data? = nil) async throws
    -> (status: Int32, stdout: String, stderr: String)
{
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("program-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let out = directory.appendingPathComponent("out")
    let err = directory.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    if let input {
        let file = directory.appendingPathComponent("in")
        try input.write(to: file)
        process.standardInput = try FileHandle(forReadingFrom: file)
    } else {
        process.standardInput = FileHandle.nullDevice
    }
    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
        do { try process.run() } catch { continuation.resume(throwing: error) }
    }
    return (status, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
}

/// The `mclouds` executable of this checkout's debug build (`swift build --build-tests` builds it).
public func mcloudsExecutable() -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/mclouds").path
}

/// Runs the built `mclouds`.
public func runMClouds(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await runProgram(mcloudsExecutable(), arguments, environment: environment)
}

/// A `mclouds server` (or any long-running `mclouds` command that prints a "listening on URL" line) run as a
/// child process: its address once it listens, its output, and ways to stop it gracefully or kill it.
public final class ServerProcess: @unchecked Sendable {
    // Process is not Sendable; it is only read after start (pid, isRunning) and signalled by pid.
    private let process: Process
    public let baseURL: String
    private let output: URL
    private let errors: URL

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var stdout: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOf: errors, encoding: .utf8)) ?? "" }

    private init(process: Process, baseURL: String, output: URL, errors: URL) {
        self.process = process
        self.baseURL = baseURL
        self.output = output
        self.errors = errors
    }

    /// Starts `mclouds arguments…` with `environment` added, its output in files in `directory`, and waits
    /// (at most a minute) for the line `<prefix>URL`.
    public static func start(
        _ arguments: [String], environment: [String: String] = [:], in directory: URL, listeningPrefix: String = "mclouds server listening on "
    ) async throws -> ServerProcess {
        let name = UUID().uuidString
        let output = directory.appendingPathComponent("server-\(name).out")
        let errors = directory.appendingPathComponent("server-\(name).err")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mcloudsExecutable())
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix(listeningPrefix) }) {
                return ServerProcess(process: process, baseURL: String(line.dropFirst(listeningPrefix.count)), output: output, errors: errors)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { process.terminate() }
        let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        throw ServerProcessError(description: "mclouds \(arguments.first ?? "") did not start listening: \(stderr)")
    }

    /// Starts `count` `mclouds server` processes on one data directory (and `database`, a PostgreSQL URL, if
    /// given), each on a free port, with `token` as the bootstrap admin token and no scheduled scrub.
    public static func servers(
        _ count: Int, data: URL, database: String?, token: String, in directory: URL, _ extra: [String] = []
    ) async throws -> [ServerProcess] {
        var servers: [ServerProcess] = []
        for _ in 0..<count {
            let arguments =
                ["server", "--data", data.path, "--port", "0", "--scrub-interval-hours", "0"] + (database.map { ["--database-url", $0] } ?? [])
                + extra
            servers.append(try await start(arguments, environment: ["MCLOUDS_ADMIN_TOKEN": token], in: directory))
        }
        return servers
    }

    /// SIGTERM (a graceful stop), then waits for the exit without blocking a thread.
    public func stop() async {
        kill(pid, SIGTERM)
        await waitForExit()
    }

    /// SIGKILL: the process dies at once, holding whatever it held.
    public func kill9() async {
        kill(pid, SIGKILL)
        await waitForExit()
    }

    public func waitForExit() async { await TestSupport.waitForExit(process) }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// Waits until `process` has exited, without `Process.waitUntilExit` (which spins a run loop on a cooperative
/// thread and, when Foundation misses the child's exit, never returns). The kernel's view decides too: a child that
/// is gone or a zombie has exited. A cancelled task's sleep returns at once, so then the wait polls with a
/// blocking sleep, and after 30 seconds the child is killed; nothing waits forever.
public func waitForExit(_ process: Process) async {
    let pid = process.processIdentifier
    let deadline = ContinuousClock.now + .seconds(30)
    while process.isRunning && childIsAlive(pid) {
        if ContinuousClock.now > deadline {
            kill(pid, SIGKILL)
            if ContinuousClock.now > deadline + .seconds(5) { return }
        }
        if Task.isCancelled {
            usleep(20_000)
        } else {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// False once the kernel has no running process `pid`: gone, or a zombie waiting to be reaped.
private func childIsAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    // The state follows the command name's closing parenthesis: "PID (COMM) S …".
    guard let close = stat.lastIndex(of: ")") else { return true }
    return !stat[close...].dropFirst().trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}

public struct ServerProcessError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) { self.description = description }
}

/// One HTTP/1.1 request over a socket bound to `source` (e.g. 127.0.0.2: Linux answers the whole of
/// 127.0.0.0/8 on loopback), so that a server sees a distinct peer address. Returns the status code.
public func httpStatus(from source: String, to host: String, port: Int, _ method: String, _ path: String, headers: [(String, String)] = [])
    async throws -> Int
{
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try blockingHTTPStatus(from: source, to: host, port: port, method, path, headers: headers) })
        }
    }
}

private func blockingHTTPStatus(from source: String, to host: String, port: Int, _ method: String, _ path: String, headers: [(String, String)])
    throws -> Int
{
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ServerProcessError(description: "socket: \(errno)") }
    defer { close(fd) }
    func address(_ text: String, _ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(text)
        return address
    }
    var local = address(source, 0)
    var remote = address(host, port)
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    guard withUnsafePointer(to: &local, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }) == 0 else {
        throw ServerProcessError(description: "cannot bind \(source): errno \(errno)")
    }
    guard withUnsafePointer(to: &remote, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }) == 0 else {
        throw ServerProcessError(description: "cannot connect to \(host):\(port): errno \(errno)")
    }
    let lines =
        ["\(method) \(path) HTTP/1.1", "Host: \(host):\(port)", "Connection: close", "Content-Length: 0"] + headers.map { "\($0.0): \($0.1)" }
    let request = Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var answer: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        answer += buffer[0..<count]
        if answer.count > 12 { break }
    }
    let statusLine = String(decoding: answer, as: UTF8.self).split(separator: " ")
    guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw ServerProcessError(description: "no HTTP answer") }
    return status
}
