import Core
import Foundation
import Synchronization

/// A wall clock that moves only when the test says so: `sleep` returns once the clock has been advanced past
/// the sleeper's deadline (or at once, with `sleep` as a yield, when `advancesOnSleep` is set).
public final class ManualWallClock: WallClock {
    private struct State {
        var now: Date
        var sleepers: [(deadline: Date, continuation: CheckedContinuation<Void, Never>)] = []
    }
    private let state: Mutex<State>

    public init(_ start: Date) { state = Mutex(State(now: start)) }

    public func now() -> Date { state.withLock { $0.now } }

    /// Moves the clock forward, waking every sleeper whose deadline has come.
    public func advance(by seconds: Double) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.now = state.now.addingTimeInterval(seconds)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.map(\.continuation)
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for continuation in woken { continuation.resume() }
    }

    /// Sets the clock to `date` (forward only).
    public func set(_ date: Date) { advance(by: max(0, date.timeIntervalSince(now()))) }

    public func sleep(seconds: Double) async throws {
        try Task.checkCancellation()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                let deadline = state.now.addingTimeInterval(seconds)
                if deadline <= state.now { return true }
                state.sleepers.append((deadline, continuation))
                return false
            }
            if resumeNow { continuation.resume() }
        }
        try Task.checkCancellation()
    }
}
