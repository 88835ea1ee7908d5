import Foundation
import SQLKit

/// Named leases in the database, so that periodic work runs once across every server on it: a lease has a
/// holder, an expiry and a fencing token that grows with each new holder (work done under an old token can be
/// told from work under the new one). A holder renews before expiry; when it dies or stops renewing, the lease
/// expires and the next one to ask takes it over.
///
/// ```swift
/// let leases = LeaseStore(store: database)
/// if let fence = try await leases.acquire("dashboard-collector", holder: instance, now: Date(), duration: 120) { … }
/// ```
public struct LeaseStore: Sendable {
    public let store: any SQLStore

    public init(store: any SQLStore) { self.store = store }

    /// The leases table (give it to the database's migrations).
    public static let migration = Migration(
        version: 900,
        [
            """
            CREATE TABLE leases (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                expires DOUBLE PRECISION NOT NULL,
                fence BIGINT NOT NULL
            )
            """
        ])

    /// A lease as stored.
    public struct Lease: Sendable, Hashable {
        public var holder: String
        /// Seconds since 1970.
        public var expires: Double
        public var fence: Int

        public init(holder: String, expires: Double, fence: Int) {
            self.holder = holder
            self.expires = expires
            self.fence = fence
        }
    }

    /// What asking for a lease does, decided without I/O.
    public enum Decision: Sendable, Hashable {
        /// Nobody ever held it: take it with fence 1.
        case create(Lease)
        /// Held by the asker: extend it (same fence).
        case renew(Lease)
        /// Expired under someone else: take it over (fence + 1).
        case takeOver(Lease)
        /// Held by someone else until its expiry.
        case refuse(current: Lease)
    }

    /// The decision for `holder` asking at `now` for `duration` seconds, given the lease as stored.
    public static func decide(current: Lease?, holder: String, now: Double, duration: Double) -> Decision {
        guard let current else { return .create(Lease(holder: holder, expires: now + duration, fence: 1)) }
        if current.holder == holder { return .renew(Lease(holder: holder, expires: now + duration, fence: current.fence)) }
        if current.expires <= now { return .takeOver(Lease(holder: holder, expires: now + duration, fence: current.fence + 1)) }
        return .refuse(current: current)
    }

    /// Takes or renews the lease `name` for `holder` until `now + duration`. Every write is conditional on
    /// what was read (the fence), and the row is read back: two instances asking at once never both hold it,
    /// whatever the database's isolation.
    /// - Returns: the fencing token while `holder` holds it; `nil` when another holder does.
    public func acquire(_ name: String, holder: String, now: Date, duration: TimeInterval) async throws -> Int? {
        try await store.transaction { db in
            let current = try await Self.read(name, db)
            switch Self.decide(current: current, holder: holder, now: now.timeIntervalSince1970, duration: duration) {
            case .create(let lease):
                try await db.raw(
                    """
                    INSERT INTO leases (name, holder, expires, fence) VALUES (\(bind: name), \(bind: lease.holder), \(bind: lease.expires), \(bind: lease.fence))
                    ON CONFLICT (name) DO NOTHING
                    """
                ).run()
            case .renew(let lease), .takeOver(let lease):
                try await db.raw(
                    """
                    UPDATE leases SET holder = \(bind: lease.holder), expires = \(bind: lease.expires), fence = \(bind: lease.fence)
                    WHERE name = \(bind: name) AND fence = \(bind: current?.fence ?? 0) AND holder = \(bind: current?.holder ?? "")
                    """
                ).run()
            case .refuse:
                return nil
            }
            guard let after = try await Self.read(name, db), after.holder == holder else { return nil }
            return after.fence
        }
    }

    private static func read(_ name: String, _ db: any SQLDatabase) async throws -> Lease? {
        try await db.raw("SELECT holder, expires, fence FROM leases WHERE name = \(bind: name)").first().map {
            Lease(
                holder: try $0.decode(column: "holder", as: String.self), expires: try $0.decode(column: "expires", as: Double.self),
                fence: try $0.decode(column: "fence", as: Int.self))
        }
    }

    /// Gives the lease up (only if `holder` holds it), so that another may take it at once.
    public func release(_ name: String, holder: String) async throws {
        try await store.transaction { db in
            try await db.raw("UPDATE leases SET expires = 0 WHERE name = \(bind: name) AND holder = \(bind: holder)").run()
        }
    }

    /// This process's name as a lease holder: host, process id and a random part (a restarted process is a new holder).
    public static let processHolder = "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UUID().uuidString.prefix(8).lowercased())"

    /// Runs `body` holding the lease `name`, renewed every third of `duration` while it runs and released after
    /// (also when it throws). While another holder has the lease it waits, asking again every `poll` and calling
    /// `onWait` once — or, with `wait: false`, returns `nil` at once without running `body`.
    public func withLease<R: Sendable>(
        _ name: String, holder: String = LeaseStore.processHolder, duration: TimeInterval, wait: Bool = true, poll: Duration = .milliseconds(500),
        onWait: (@Sendable () -> Void)? = nil, _ body: () async throws -> R
    ) async throws -> R? {
        var told = false
        while try await acquire(name, holder: holder, now: Date(), duration: duration) == nil {
            guard wait else { return nil }
            if !told {
                onWait?()
                told = true
            }
            try await Task.sleep(for: poll)
        }
        let renewal = Task {
            // A renewal that fails (a busy or briefly unreachable database) is tried again soon, not given up:
            // one lost write must not let the lease lapse under work that is still running.
            var wait = Duration.seconds(duration / 3)
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: wait)
                    _ = try await self.acquire(name, holder: holder, now: Date(), duration: duration)
                    wait = .seconds(duration / 3)
                } catch is CancellationError {
                    return
                } catch {
                    wait = .seconds(min(1, duration / 10))
                }
            }
        }
        defer { renewal.cancel() }
        do {
            let result = try await body()
            renewal.cancel()
            try await release(name, holder: holder)
            return result
        } catch {
            renewal.cancel()
            try? await release(name, holder: holder)
            throw error
        }
    }

    /// The lease as stored now, if it was ever taken.
    public func current(_ name: String) async throws -> Lease? {
        try await store.withDatabase { db in try await Self.read(name, db) }
    }
}
