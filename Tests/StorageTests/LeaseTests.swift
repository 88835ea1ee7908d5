import Foundation
import Storage
import TestSupport
import Testing

@Suite("Leases")
struct LeaseTests {
    typealias Lease = LeaseStore.Lease

    @Test("the decision: create, renew (same fence), refuse while held, take over once expired (fence grows)")
    func decisions() {
        #expect(LeaseStore.decide(current: nil, holder: "a", now: 0, duration: 10) == .create(Lease(holder: "a", expires: 10, fence: 1)))
        let held = Lease(holder: "a", expires: 10, fence: 4)
        #expect(LeaseStore.decide(current: held, holder: "a", now: 8, duration: 10) == .renew(Lease(holder: "a", expires: 18, fence: 4)))
        #expect(LeaseStore.decide(current: held, holder: "b", now: 9.9, duration: 10) == .refuse(current: held))
        #expect(LeaseStore.decide(current: held, holder: "b", now: 10, duration: 10) == .takeOver(Lease(holder: "b", expires: 20, fence: 5)))
    }

    @Test(
        "in the database: one holder at a time, renewed while held, taken over after expiry or release, fence growing",
        arguments: TestDatabase.available)
    func stored(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let store = try await backend.open(in: directory, migrations: [LeaseStore.migration])
            let leases = LeaseStore(store: store)
            func at(_ seconds: Double) -> Date { Date(timeIntervalSince1970: 1_000_000 + seconds) }
            #expect(try await leases.acquire("work", holder: "a", now: at(0), duration: 10) == 1)
            #expect(try await leases.acquire("work", holder: "b", now: at(5), duration: 10) == nil)
            #expect(try await leases.acquire("work", holder: "a", now: at(8), duration: 10) == 1)
            #expect(try await leases.acquire("work", holder: "b", now: at(17), duration: 10) == nil)
            #expect(try await leases.acquire("work", holder: "b", now: at(18), duration: 10) == 2)
            #expect(try await leases.acquire("work", holder: "a", now: at(19), duration: 10) == nil)
            try await leases.release("work", holder: "a")  // not a's: nothing changes
            #expect(try await leases.current("work")?.holder == "b")
            try await leases.release("work", holder: "b")
            #expect(try await leases.acquire("work", holder: "a", now: at(20), duration: 10) == 3)
            #expect(try await leases.acquire("other", holder: "b", now: at(20), duration: 10) == 1)
        }
    }

    @Test(
        "withLease: renewed while the work runs past the lease time, released after (also on a throw); others wait or skip",
        arguments: TestDatabase.available)
    func withLease(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let leases = LeaseStore(store: try await backend.open(in: directory, migrations: [LeaseStore.migration]))
            let started = Date()
            // Long enough that a loaded machine does not starve the renewal (every third of it) for a whole lease time.
            let result = try await leases.withLease("work", holder: "a", duration: 9) {
                // Past the first lease time, and renewed meanwhile (polled, not timed: a loaded machine is slow).
                let first = started.timeIntervalSince1970 + 9
                while true {
                    let expires = try await leases.current("work")?.expires ?? 0
                    if Date().timeIntervalSince1970 > first && expires > first { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                // At the first lease time, past which a's lease was seen renewed, b is refused.
                #expect(try await leases.acquire("work", holder: "b", now: Date(timeIntervalSince1970: first), duration: 10) == nil)
                return 7
            }
            #expect(result == 7)
            #expect(try await leases.current("work")?.expires == 0)
            struct Failure: Error {}
            await #expect(throws: Failure.self) { try await leases.withLease("work", holder: "b", duration: 10) { throw Failure() } }
            #expect(try await leases.current("work")?.expires == 0)
            // A waiter runs once the holder lets go.
            #expect(try await leases.acquire("work", holder: "c", now: Date(), duration: 600) != nil)
            #expect(try await leases.withLease("work", holder: "b", duration: 10, wait: false) { 1 } == nil)
            let release = Task {
                try await Task.sleep(for: .milliseconds(300))
                try await leases.release("work", holder: "c")
            }
            #expect(try await leases.withLease("work", holder: "d", duration: 10, poll: .milliseconds(50)) { 2 } == 2)
            try await release.value
        }
    }

    @Test("20 instances asking at once (each with a SQLite store of its own on one file): exactly one holds the lease")
    func race() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("db.sqlite").path
            _ = try await SQLiteStore.open(path: path, migrations: [LeaseStore.migration])
            let now = Date()
            let winners = try await withThrowingTaskGroup(of: Int?.self) { group in
                for instance in 0..<20 {
                    group.addTask {
                        // Each instance with a store of its own on the same file, as separate servers have.
                        let store = try await SQLiteStore.open(path: path, migrations: [LeaseStore.migration])
                        return try await LeaseStore(store: store).acquire("work", holder: "i\(instance)", now: now, duration: 60)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(winners.compactMap { $0 } == [1])
        }
    }

    @Test(
        "20 instances asking at once through a pool of PostgreSQL connections: exactly one holds the lease",
        .enabled(if: TestDatabase.available.contains(.postgres)))
    func racePostgres() async throws {
        try await withTemporaryDirectory { directory in
            let leases = LeaseStore(store: try await TestDatabase.postgres.open(in: directory, migrations: [LeaseStore.migration]))
            let now = Date()
            let winners = try await withThrowingTaskGroup(of: Int?.self) { group in
                for instance in 0..<20 {
                    group.addTask { try await leases.acquire("work", holder: "i\(instance)", now: now, duration: 60) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(winners.compactMap { $0 } == [1])
        }
    }
}
