import Foundation

/// Unbuffered writes to standard output and error, so lines appear at once even when piped
/// (C's `stdout` is block-buffered when it is not a terminal).
public enum Console {
    /// Writes `text` and a newline to standard output.
    public static func line(_ text: String = "") {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// Writes `text` and a newline to standard error.
    public static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Whether standard output is a terminal (progress bars only then).
    public static var isTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Whether standard error is a terminal (where progress bars are drawn).
    public static var isErrorTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}
