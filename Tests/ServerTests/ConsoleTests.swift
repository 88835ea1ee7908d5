import Foundation
import Server
import TestSupport
import Testing

@Suite("Terminal output")
struct ConsoleTests {
    /// The lines a terminal shows for `raw`: carriage return to column 0, `ESC [ K` erases to the end of the line.
    static func visibleLines(_ raw: String) -> [String] {
        var lines: [String] = []
        var buffer: [Character] = []
        var column = 0
        var characters = Array(raw)[...]
        while let character = characters.popFirst() {
            switch character {
            case "\n", "\r\n":
                lines.append(String(buffer))
                buffer = []
                column = 0
            case "\r":
                column = 0
            case "\u{1B}":
                if characters.prefix(2).elementsEqual(["[", "K"]) {
                    characters.removeFirst(2)
                    buffer.removeSubrange(min(column, buffer.count)...)
                }
            default:
                if column < buffer.count { buffer[column] = character } else { buffer.append(character) }
                column += 1
            }
        }
        if !buffer.isEmpty { lines.append(String(buffer)) }
        return lines
    }

    @Test(
        "a log line written while a progress bar is drawn never breaks into it (publish on a terminal, debug logs)",
        .enabled(if: Tools.available("script")))
    func logsAboveTheBar() async throws {
        let script = try #require(Tools.path("script"), "script(1) is missing (Debian package bsdutils)")
        try await withTemporaryDirectory { directory in
            let image = directory.appendingPathComponent("disk.raw")
            try Data(repeating: 3, count: 16 << 20).write(to: image)
            let command = [
                mcloudsExecutable(), "template", "publish", image.path, "--name", "t", "--version", "1", "--format", "RAW", "--hypervisor", "KVM",
                "--os-type", "'Other Linux (64-bit)'", "--data", directory.appendingPathComponent("data").path, "--log-level", "debug",
            ].joined(separator: " ")
            // script(1) gives the command a terminal, so the bar is drawn while the repository logs.
            let result = try await runProgram(script, ["-qfec", command, "/dev/null"])
            #expect(result.status == 0, "\(result.stdout)")
            let lines = Self.visibleLines(result.stdout)
            let logs = lines.filter { $0.contains(" mclouds.template: ") }
            // The repository's own debug lines (the database drivers' statements are no longer logged: they carry bound values).
            #expect(logs.count >= 2, "\(lines)")
            for line in logs {
                #expect(
                    line.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (trace|debug|info|notice|warning|error|critical) .*/) != nil,
                    "\(line)")
            }
            #expect(lines.contains { $0.hasPrefix("chunking  [####") })
        }
    }
}

@Suite("A closed standard output")
struct BrokenPipeTests {
    @Test("`template status`, `dashboard` and `template list` piped into a reader that has gone end quietly with status 0")
    func closedStdout() async throws {
        try await withServer { server, _, directory in
            for command in [
                "template status --server \(server.baseURL)", "dashboard --server \(server.baseURL)", "template list --server \(server.baseURL)",
                "template list --data \(directory.path)",
            ] {
                // `true` exits at once; mclouds writes only after its answer arrives, to a pipe nobody reads.
                let script = "\(mcloudsExecutable()) \(command) | true; echo \"status=${PIPESTATUS[0]}\""
                let result = try await runProgram("/bin/bash", ["-c", script])
                #expect(result.stdout.contains("status=0"), "\(command): \(result.stdout) \(result.stderr)")
                #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Backtrace"), "\(command): \(result.stderr)")
            }
        }
    }
}
