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

/// Watches every transfer of a fetch from one task: a transfer that has received nothing for `timeout`
/// is cancelled (and told so when it ends), so the chunk can be retried from where it stopped.
final class StallWatchdog: Sendable {
    private struct Entry {
        var last: Int64
        var cancel: @Sendable () -> Void
        var stalled = false
    }

    let timeout: Duration
    private let start = ContinuousClock.now
    private let entries = Mutex<(next: Int, watched: [Int: Entry])>((0, [:]))

    init(timeout: Duration) { self.timeout = timeout }

    private var now: Int64 {
        let d = ContinuousClock.now - start
        return d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }

    /// Starts watching a transfer; `cancel` stops it.
    func register(cancel: @escaping @Sendable () -> Void) -> Int {
        let now = now
        return entries.withLock { state in
            let id = state.next
            state.next += 1
            state.watched[id] = Entry(last: now, cancel: cancel)
            return id
        }
    }

    /// Bytes arrived for transfer `id`.
    func progress(_ id: Int) {
        let now = now
        entries.withLock { $0.watched[id]?.last = now }
    }

    /// Stops watching; true when the watchdog cancelled the transfer for stalling.
    func finish(_ id: Int) -> Bool {
        entries.withLock { $0.watched.removeValue(forKey: id)?.stalled ?? false }
    }

    /// Checks the transfers every quarter of the timeout until cancelled.
    func run() async {
        let step = max(timeout / 4, .milliseconds(10))
        let limit = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: step)
            } catch {
                return
            }
            let now = now
            let stalled = entries.withLock { state -> [@Sendable () -> Void] in
                var cancels: [@Sendable () -> Void] = []
                for (id, entry) in state.watched where !entry.stalled && now - entry.last > limit {
                    state.watched[id]?.stalled = true
                    cancels.append(entry.cancel)
                }
                return cancels
            }
            for cancel in stalled { cancel() }
        }
    }
}
