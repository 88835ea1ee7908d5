import Foundation
import Synchronization

/// A token bucket: bytes may flow at `rate` per second on average, with up to `burst` bytes at once.
/// Pure arithmetic on the caller's clock (seconds), so it can be tested without waiting.
public struct TokenBucket: Sendable, Equatable {
    public let rate: Double
    public let burst: Double
    private var available: Double
    private var updated: Double

    public init(rate: Double, burst: Double, now: Double) {
        precondition(rate > 0 && burst > 0)
        self.rate = rate
        self.burst = burst
        available = burst
        updated = now
    }

    /// Takes `bytes` at time `now` and returns how many seconds the taker must wait so that the flow
    /// keeps to the rate. Takers that come while the bucket is in debt wait for their share in turn.
    public mutating func take(_ bytes: Int, now: Double) -> Double {
        if now > updated {
            available = min(burst, available + (now - updated) * rate)
            updated = now
        }
        available -= Double(bytes)
        return available >= 0 ? 0 : -available / rate
    }
}

/// The agent's bandwidth limit, shared by all downloads of a fetch.
public final class BandwidthLimiter: Sendable {
    private let bucket: Mutex<TokenBucket>
    private let start = ContinuousClock.now

    /// - Parameter bytesPerSecond: the average rate; bursts of 50 ms (at least 128 KiB) pass at once.
    public init(bytesPerSecond: Double) {
        bucket = Mutex(TokenBucket(rate: bytesPerSecond, burst: max(131_072, bytesPerSecond / 20), now: 0))
    }

    /// Waits as long as taking `bytes` needs.
    public func pace(_ bytes: Int) async throws {
        let now = (ContinuousClock.now - start) / .seconds(1)
        let wait = bucket.withLock { $0.take(bytes, now: now) }
        if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
    }
}

/// Watches one transfer: when ``progress()`` has not been called for `timeout`, ``watch(url:)`` throws
/// `stalled`, which aborts the transfer so it can be retried.
final class StallWatchdog: Sendable {
    let timeout: Duration
    private let start = ContinuousClock.now
    private let last = Atomic<Int64>(0)

    init(timeout: Duration) { self.timeout = timeout }

    private var elapsedNanoseconds: Int64 {
        let d = ContinuousClock.now - start
        return d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }

    func progress() { last.store(elapsedNanoseconds, ordering: .relaxed) }

    /// Returns when cancelled (the transfer ended); throws when it stalls.
    func watch(url: String) async throws {
        let step = max(timeout / 4, .milliseconds(10))
        let limit = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        while true {
            do {
                try await Task.sleep(for: step)
            } catch {
                return
            }
            if elapsedNanoseconds - last.load(ordering: .relaxed) > limit { throw SyncAgentError.stalled(url, timeout) }
        }
    }
}
