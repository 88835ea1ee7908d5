import Foundation

/// Unbuffered writes to standard output and error, so lines appear at once even when piped
/// (C's `stdout` is block-buffered when it is not a terminal).
///
/// Every line is passed through ``escaped(_:)``: text from remote data (a site's report, a CloudStack error, a
/// template's name) can never move the cursor, recolour or retitle the operator's terminal.
public enum Console {
    /// Writes `text` and a newline to standard output.
    public static func line(_ text: String = "") {
        StandardStream.output(escaped(text) + "\n")
    }

    /// Writes `text` and a newline to standard error.
    public static func error(_ text: String) {
        TerminalLine.write(escaped(text) + "\n")
    }

    /// `text` with control characters (C0 but newline and tab, DEL, C1) written as visible `\xNN` / `\u{NN}` escapes.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: false)
                out.append(contentsOf: (scalar.value < 0x80 ? "\\x" + (hex.count == 1 ? "0" + hex : hex) : "\\u{" + hex + "}").unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// C0 controls other than newline and tab, DEL, and the C1 controls (U+0080–U+009F, which include CSI).
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return (v < 0x20 && v != 0x0A && v != 0x09) || (0x7F...0x9F).contains(v)
    }

    /// Whether standard output is a terminal (progress bars only then).
    public static var isTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Whether standard error is a terminal (where progress bars are drawn).
    public static var isErrorTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}
