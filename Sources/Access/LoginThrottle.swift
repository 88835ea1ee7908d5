import Foundation

/// How failed logins slow down the next try (pure): a few failures are free, then each one doubles the wait
/// before the next attempt, and past a limit the account (or the source address) is locked for a while.
///
/// ```swift
/// let throttle = LoginThrottle.perAccount
/// throttle.verdict(failures: 6, lastFailure: t, lockedUntil: nil, now: t + 2)   // .wait(seconds: 6)
/// ```
public struct LoginThrottle: Sendable, Hashable {
    /// Failures that cost nothing (typos).
    public var freeFailures: Int
    /// The failure that locks.
    public var lockAfter: Int
    /// How long a lock lasts.
    public var lockDuration: TimeInterval
    /// The longest wait between two attempts before the lock.
    public var maximumDelay: TimeInterval
    /// After this long without a failure, the count starts again.
    public var forgetAfter: TimeInterval
    /// The wait after the first failure that costs one (doubling from there).
    public var firstDelay: TimeInterval

    public init(
        freeFailures: Int, lockAfter: Int, lockDuration: TimeInterval, maximumDelay: TimeInterval = 300, forgetAfter: TimeInterval = 3600,
        firstDelay: TimeInterval = 1
    ) {
        self.firstDelay = firstDelay
        self.freeFailures = freeFailures
        self.lockAfter = lockAfter
        self.lockDuration = lockDuration
        self.maximumDelay = maximumDelay
        self.forgetAfter = forgetAfter
    }

    /// One account: 3 free failures, then 1, 2, 4 … s between tries, locked for 15 minutes at the 10th.
    public static let perAccount = LoginThrottle(freeFailures: 3, lockAfter: 10, lockDuration: 900)
    /// One source address (many accounts tried from one place): 10 free, locked for 15 minutes at the 50th.
    public static let perAddress = LoginThrottle(freeFailures: 10, lockAfter: 50, lockDuration: 900, maximumDelay: 60)

    public enum Verdict: Sendable, Hashable {
        case allowed
        /// Too soon after the last failure: try again in this many seconds.
        case wait(seconds: Int)
        /// Locked until then.
        case locked(until: Date)
    }

    /// The wait that follows the `failures`-th failure.
    public func delay(afterFailures failures: Int) -> TimeInterval {
        guard failures > freeFailures else { return 0 }
        return min(maximumDelay, firstDelay * pow(2, Double(failures - freeFailures - 1)))
    }

    /// Whether an attempt may go ahead now.
    public func verdict(failures: Int, lastFailure: Date?, lockedUntil: Date?, now: Date) -> Verdict {
        if let lockedUntil, lockedUntil > now { return .locked(until: lockedUntil) }
        guard let lastFailure, lockedUntil == nil, now.timeIntervalSince(lastFailure) < forgetAfter else { return .allowed }
        let remaining = lastFailure.addingTimeInterval(delay(afterFailures: failures)).timeIntervalSince(now)
        // A millisecond's grace: times come back from the database through floating point.
        return remaining > 0.001 ? .wait(seconds: max(1, Int((remaining - 0.001).rounded(.up)))) : .allowed
    }

    /// The record after one more failure at `now`: the count (restarted after a lock ran out or a long quiet), and
    /// the lock when it reaches ``lockAfter``.
    public func failing(failures: Int, lastFailure: Date?, lockedUntil: Date?, now: Date) -> (failures: Int, lockedUntil: Date?) {
        let expired = lockedUntil.map { $0 <= now } ?? false
        let quiet = lastFailure.map { now.timeIntervalSince($0) >= forgetAfter } ?? true
        let count = (expired || quiet ? 0 : failures) + 1
        return (count, count >= lockAfter ? now.addingTimeInterval(lockDuration) : nil)
    }
}

/// What a password must be: at least ``minimumLength`` characters, at most 72 bytes (bcrypt reads no further),
/// not the user name, and not one character repeated.
public struct PasswordRules: Sendable, Hashable {
    public var minimumLength: Int
    public static let maximumBytes = 72

    public init(minimumLength: Int = 12) { self.minimumLength = minimumLength }

    /// Nil when `password` is acceptable for `username`; else what is wrong.
    public func problem(_ password: String, username: String) -> AccessError? {
        if password.count < minimumLength { return .weakPassword(.tooShort(minimumLength)) }
        if password.utf8.count > Self.maximumBytes { return .weakPassword(.tooLong(Self.maximumBytes)) }
        if password.lowercased().contains(username.lowercased()) { return .weakPassword(.containsUsername) }
        if Set(password).count < 4 { return .weakPassword(.tooSimple) }
        return nil
    }
}
