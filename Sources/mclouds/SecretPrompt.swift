import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a secret from the terminal without echoing it (a password for `mclouds admin create`).
enum SecretPrompt {
    /// Whether standard input is a terminal (a prompt can be answered).
    static var canPrompt: Bool { isatty(STDIN_FILENO) == 1 }

    /// Shows `prompt` on standard error and reads one line from standard input with echo off; nil at end of input.
    static func read(_ prompt: String) -> String? {
        FileHandle.standardError.write(Data(prompt.utf8))
        var saved = termios()
        let isTerminal = tcgetattr(STDIN_FILENO, &saved) == 0
        if isTerminal {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        }
        defer {
            if isTerminal {
                _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
                FileHandle.standardError.write(Data("\n".utf8))
            }
        }
        return Swift.readLine(strippingNewline: true)
    }

    /// A new password: from `file` (its first line), or asked twice at the terminal.
    /// - Throws: a message when there is neither a file nor a terminal, the file is unreadable, or the two differ.
    static func newPassword(file: String?, what: String = "password") throws -> String {
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("Cannot read the password file \(file): \(FileProblem.describe(path: file)).")
            }
            return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
        guard canPrompt else {
            throw ValidationError("No terminal to ask for the \(what) on: give --password-file FILE (its first line is the \(what)).")
        }
        guard let first = read("New \(what): "), let second = read("Again: ") else { throw ValidationError("No \(what) was typed.") }
        guard first == second else { throw ValidationError("The two \(what)s differ: run the command again.") }
        return first
    }
}
