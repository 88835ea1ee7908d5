import Foundation

/// Calendar time for work scheduled at dates (a class at 09:00 on Tuesday): what time it is, and a way to wait.
/// Components take one so that tests step time instead of sleeping (`ManualWallClock` in TestSupport) and the
/// demo runs a term in minutes (``ScaledWallClock``).
public protocol WallClock: Sendable {
    /// The current time.
    func now() -> Date
    /// Waits `seconds` of this clock's time (throws when the task is cancelled).
    func sleep(seconds: Double) async throws
}

/// The system's clock.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(seconds: Double) async throws { try await Task.sleep(for: .milliseconds(Int(max(0, seconds) * 1000))) }
}

/// A clock that runs `factor` times faster than the system's from `start` (the demo's term in minutes).
public struct ScaledWallClock: WallClock {
    public let start: Date
    public let factor: Double
    private let began = Date()

    public init(start: Date, factor: Double) {
        self.start = start
        self.factor = max(1, factor)
    }

    public func now() -> Date { start.addingTimeInterval(Date().timeIntervalSince(began) * factor) }
    public func sleep(seconds: Double) async throws { try await Task.sleep(for: .milliseconds(Int(max(0, seconds) / factor * 1000))) }
}
