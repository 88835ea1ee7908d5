import Foundation
import Synchronization

/// Standard error shared by progress bars and log lines: a log line written while a bar is drawn clears the bar,
/// is written on a line of its own, and the bar is drawn again below it — a log never breaks into a bar.
public enum TerminalLine {
    private static let bar = Mutex<String?>(nil)

    /// Draws `line` as the current bar (replacing the one drawn).
    public static func draw(_ line: String) {
        bar.withLock { current in
            current = line
            StandardStream.error(("\r" + line + "\u{1B}[K"))
        }
    }

    /// Draws `line` a last time and ends the bar's line.
    public static func finish(_ line: String) {
        bar.withLock { current in
            current = nil
            StandardStream.error(("\r" + line + "\u{1B}[K\n"))
        }
    }

    /// Writes `text` (ending in a newline) to standard error, above the bar if one is drawn.
    public static func write(_ text: String) {
        bar.withLock { current in
            guard let line = current else {
                StandardStream.error(text)
                return
            }
            StandardStream.error(("\r\u{1B}[K" + text + line + "\u{1B}[K"))
        }
    }
}
