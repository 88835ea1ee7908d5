import Foundation
import Synchronization

/// A one-line progress bar on standard error — bytes done, rate and time left — drawn only when standard
/// error is a terminal and at most ten times a second. Safe to update from any thread.
///
/// ```swift
/// let bar = ProgressBar(label: "publishing", total: size)
/// bar.update(done)
/// bar.finish()
/// ```
public final class ProgressBar: Sendable {
    private struct State {
        var total: Int64
        var done: Int64 = 0
        var lastDraw: Double = 0
        var finished = false
        var label: String
    }

    private let state: Mutex<State>
    private let started = ProcessInfo.processInfo.systemUptime
    private let enabled: Bool

    /// - Parameter enabled: defaults to whether standard error is a terminal.
    public init(label: String, total: Int64, enabled: Bool = Console.isErrorTerminal) {
        state = Mutex(State(total: total, label: label))
        self.enabled = enabled
    }

    /// Sets the bytes done (and optionally a new label and total, for a next phase).
    public func update(_ done: Int64, total: Int64? = nil, label: String? = nil) {
        guard enabled else { return }
        let now = ProcessInfo.processInfo.systemUptime
        let line: String? = state.withLock { state in
            state.done = done
            if let total { state.total = total }
            if let label { state.label = label }
            guard !state.finished, now - state.lastDraw >= 0.1 || done >= state.total else { return nil }
            state.lastDraw = now
            return Self.render(label: state.label, done: done, total: state.total, elapsed: now - started)
        }
        if let line { TerminalLine.draw(line) }
    }

    /// Draws the final state and ends the line.
    public func finish() {
        guard enabled else { return }
        let line = state.withLock { state -> String? in
            guard !state.finished else { return nil }
            state.finished = true
            return Self.render(
                label: state.label, done: state.done, total: state.total, elapsed: ProcessInfo.processInfo.systemUptime - started)
        }
        if let line { TerminalLine.finish(line) }
    }

    /// `label [#######.......]  1.2 GiB / 2.0 GiB  410.5 MiB/s  ETA 0:02`
    public static func render(label: String, done: Int64, total: Int64, elapsed: Double, width: Int = 30) -> String {
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let eta = done >= total ? "done" : rate > 0 ? "ETA \(Int(remaining) / 60):\(String(format: "%02d", Int(remaining) % 60))" : "ETA --:--"
        return "\(label) [\(bar)] \(ByteCount.format(done)) / \(ByteCount.format(total))  \(ByteCount.format(Int64(rate)))/s  \(eta)"
    }
}

/// Byte counts for people: `512 B`, `12.5 KiB`, `1.2 GiB`.
public enum ByteCount {
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : "\(String(format: "%.1f", value)) \(units[unit])"
    }
}
