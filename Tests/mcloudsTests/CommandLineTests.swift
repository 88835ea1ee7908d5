import ArgumentParser
import Foundation
import Storage
import Testing

@testable import mclouds

@Suite("The command line as a new user meets it", .serialized)
struct CommandLineTests {
    /// The README, next to Package.swift.
    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("README.md")

    /// Every `mclouds …` command line of the README's sh code blocks, with continuations joined, leading environment
    /// assignments and `swift run` dropped.
    static func readmeCommands() throws -> [(environment: [String: String], arguments: [String])] {
        var commands: [(environment: [String: String], arguments: [String])] = []
        var inShell = false
        var pending = ""
        for line in try String(contentsOf: readme, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                inShell = line == "```sh"
                continue
            }
            guard inShell else { continue }
            var text = String(line)
            if let hash = text.range(of: " #") { text = String(text[..<hash.lowerBound]) }
            if text.hasSuffix("\\") {
                pending += text.dropLast() + " "
                continue
            }
            text = (pending + text).trimmingCharacters(in: .whitespaces)
            pending = ""
            var words = try shellWords(text)
            var environment: [String: String] = [:]
            while let first = words.first, first.contains("="), !first.hasPrefix("-") {
                let parts = first.split(separator: "=", maxSplits: 1)
                environment[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
                words.removeFirst()
            }
            if words.starts(with: ["swift", "run"]) { words.removeFirst(2) }
            guard words.first == "mclouds" else { continue }
            commands.append((environment, Array(words.dropFirst())))
        }
        return commands
    }

    /// Splits like a POSIX shell: spaces separate words, quotes group them.
    static func shellWords(_ text: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var inWord = false
        for character in text {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "\"" || character == "'" {
                quote = character
                inWord = true
            } else if character == " " {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    @Test("every mclouds command line in the README's code blocks parses")
    func readmeCommandsParse() throws {
        let commands = try Self.readmeCommands()
        #expect(commands.count >= 15, "\(commands.count) commands found")
        for (environment, command) in commands {
            // "…" stands for a value the reader fills in; the line's environment assignments apply while it parses.
            let arguments = command.map { $0.replacingOccurrences(of: "…", with: "VALUE") }
            for (name, value) in environment { setenv(name, value.replacingOccurrences(of: "…", with: "VALUE"), 1) }
            defer { for name in environment.keys { unsetenv(name) } }
            do {
                _ = try MClouds.parseAsRoot(arguments)
            } catch {
                Issue.record("README: mclouds \(command.joined(separator: " ")) does not parse: \(MClouds.message(for: error))")
            }
        }
    }

    /// The help of every command, as a terminal of 80 columns shows it.
    static func allHelp(_ command: any ParsableCommand.Type = MClouds.self, path: [String] = []) -> [(String, String)] {
        let help = MClouds.helpMessage(for: command, columns: 80)
        return [(path.joined(separator: " "), help)]
            + command.configuration.subcommands.flatMap { allHelp($0, path: path + [$0._commandName]) }
    }

    @Test("help examples can be pasted: no example line is wrapped at 80 columns, and --version answers")
    func helpExamples() throws {
        let helps = Self.allHelp()
        #expect(helps.count > 20)
        for (command, help) in helps {
            let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
            for (example, next) in zip(lines, lines.dropFirst()) where example.hasPrefix("  ") && !example.hasPrefix("   ") {
                let trimmed = example.trimmingCharacters(in: .whitespaces)
                guard trimmed.hasPrefix("mclouds ") || trimmed.first?.isUppercase == true && trimmed.contains("=") else { continue }
                #expect(next.isEmpty || next.hasPrefix(" "), "mclouds \(command) --help: example wrapped after \"\(example)\": \"\(next)\"")
            }
        }
        #expect(MClouds.configuration.version.hasPrefix("mclouds "))
    }

    @Test("deploy/server.yaml is a valid server configuration: every key known, the database URL and secrets as files")
    func exampleServerConfiguration() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/server.yaml").path
        let file = try ConfigurationFile.load(ServerConfigurationFile.self, path: path)
        #expect(file.data == "/var/lib/mclouds" && file.port == 8080)
        #expect(file.database?.url?.hasPrefix("postgres://") == true && file.database?.passwordFile != nil)
        let resolved = try DatabaseOptions.parse([]).resolve(
            file: ServerConfigurationFile.Database(url: file.database?.url, poolSize: 3), environment: [:])
        #expect(resolved?.poolSize == 3 && resolved?.password == nil)
        // The command line and the environment win over the file.
        let environment = ["MCLOUDS_DATABASE_URL": "postgres://other@127.0.0.1/db", "MCLOUDS_DATABASE_PASSWORD": "pw"]
        let overridden = try DatabaseOptions.parse([]).resolve(file: file.database, environment: environment)
        #expect(overridden?.url == "postgres://other@127.0.0.1/db" && overridden?.password == "pw" && overridden?.poolSize == 10)
    }
}
