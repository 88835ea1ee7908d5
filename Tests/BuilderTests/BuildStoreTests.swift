import Builder
import Core
import Foundation
import Storage
import Synchronization
import TestSupport
import Testing

@Suite("Build store and scheduled rebuilds")
struct BuildStoreTests {
    func report(_ id: String, recipe: Recipe) -> BuildReport {
        BuildReport(id: id, recipe: recipe, region: "R1", requestedBy: "admin", started: Timestamps.string(from: Date()))
    }

    @Test(
        "a build's callback takes its one-time token once; a wrong token, a replay and a finished build are refused",
        arguments: TestDatabase.available)
    func callback(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let store = try await BuildStore.open(database: try await backend.open(in: directory, migrations: []))
            var build = report("bld-00000000000000a1", recipe: try testRecipe())
            try await store.start(build, now: Date())
            let token = try await store.openCallback(build.id)
            let guest = GuestReport(checks: [.init(name: "yosys", command: "yosys -V", exitCode: 0, output: "Yosys 0.33\n")])
            // A wrong token differs from the right one in its first character, whatever that is.
            let wrong = (token.first == "0" ? "1" : "0") + token.dropFirst()
            #expect(wrong != token)
            await #expect(throws: BuilderError.refused("")) { try await store.acceptCallback(build.id, token: wrong, report: guest) }
            #expect(try await store.callbackReport(build.id) == nil)
            try await store.acceptCallback(build.id, token: token, report: guest)
            #expect(try await store.callbackReport(build.id) == guest)
            await #expect(throws: BuilderError.refused("")) { try await store.acceptCallback(build.id, token: token, report: guest) }
            await #expect(throws: BuilderError.notFound("")) { try await store.acceptCallback("bld-nothing", token: token, report: guest) }
            // A new token for a finished build is refused too.
            let late = try await store.openCallback(build.id)
            build.state = .failed
            try await store.save(build)
            await #expect(throws: BuilderError.refused("")) { try await store.acceptCallback(build.id, token: late, report: guest) }
            // The log keeps its order and is read from where a follower stopped.
            for text in ["one", "two", "three"] { try await store.log(build.id, step: .deploy, text, now: Date()) }
            #expect(try await store.log(build.id, after: 1).map(\.text) == ["two", "three"])
        }
    }

    @Test("scheduled rebuilds: two servers on one database, the due recipe is built exactly once, then next month", arguments: TestDatabase.available)
    func scheduledOnce(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let database = try await backend.open(in: directory, migrations: [LeaseStore.migration])
            let store = try await BuildStore.open(database: database)
            let clock = ManualWallClock(ISO8601DateFormatter().date(from: "2026-11-30T12:00:00Z")!)
            let recipe = try testRecipe().with { $0.schedule = RebuildSchedule(every: .monthly, day: 1, minute: 120) }
            let registered = try await store.register(recipe, region: "R1", now: clock.now())
            #expect(registered.nextDue == ISO8601DateFormatter().date(from: "2026-12-01T02:00:00Z")!.timeIntervalSince1970)
            let built = Counter()
            let schedulers = (0..<2).map { instance in
                var configuration = RebuildScheduler.Configuration()
                configuration.instance = "server-\(instance)"
                return RebuildScheduler(
                    configuration: configuration, store: store, leases: LeaseStore(store: database), clock: clock, logger: quietLogger
                ) { recipe, region in
                    built.add()
                    try? await Task.sleep(for: .milliseconds(200))
                    return BuildReport(id: "bld-x", recipe: recipe, region: region, requestedBy: "schedule", started: "")
                }
            }
            // Not due yet: nobody builds.
            #expect(try await schedulers[0].runDue() == [])
            clock.set(ISO8601DateFormatter().date(from: "2026-12-01T02:30:00Z")!)
            async let first = schedulers[0].runDue()
            async let second = schedulers[1].runDue()
            let rounds = [try await first, try await second]
            #expect(built.value == 1)
            #expect(rounds.compactMap { $0 }.flatMap { $0 }.count == 1)
            #expect(try await store.recipes().first?.nextDue == ISO8601DateFormatter().date(from: "2027-01-01T02:00:00Z")!.timeIntervalSince1970)
            #expect(try await schedulers[1].runDue() == [])
            #expect(built.value == 1)
        }
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
