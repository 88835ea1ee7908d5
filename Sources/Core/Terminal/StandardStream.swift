#if canImport(Glibc)
    import Glibc
#endif

/// Writes to standard output and error with `write(2)`: a closed reader (`mclouds … | head`) ends the command
/// quietly with status 0 when it is standard output, and is ignored when it is standard error — never a crash
/// (Foundation's `FileHandle.write` traps on `EPIPE`).
public enum StandardStream {
    /// Writes `text` to standard output; when nobody reads it any more, exits 0 (the work is done; only the
    /// telling is not wanted).
    public static func output(_ text: String) {
        if !write(STDOUT_FILENO, text) { exit(0) }
    }

    /// Writes `text` to standard error; a closed standard error is ignored.
    public static func error(_ text: String) {
        _ = write(STDERR_FILENO, text)
    }

    /// False when the reader is gone (`EPIPE`) or the descriptor is closed.
    static func write(_ descriptor: Int32, _ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return false
            }
            bytes = bytes.dropFirst(written)
        }
        return true
    }
}
