import CloudStack
import CloudStackSimulator
import Core
import Dashboard
import Federation
import Foundation
import ServiceLifecycle
import Storage
import TestSupport
import Testing

@Suite("Dashboard collector under a lease")
struct CollectorLeaseTests {
    @Test("two collectors on one database collect once per period between them; when the holder dies the other takes over")
    func oneCollectionPerPeriod() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("db.sqlite").path
            // Two instances: each with stores of its own on the one database file, as two servers have.
            func instance(_ name: String) async throws -> DashboardCollector {
                let database = try await SQLiteStore.open(path: path, migrations: [LeaseStore.migration], logger: quietLogger)
                let registry = try await RegionRegistry.open(
                    database: database, secrets: try SecretBox.open(keyFile: directory.appendingPathComponent("secrets.key").path))
                var configuration = DashboardCollector.Configuration()
                configuration.interval = .milliseconds(400)
                configuration.leaseTime = .seconds(20)  // well past a period, even on a heavily loaded machine
                configuration.leases = LeaseStore(store: database)
                configuration.instance = name
                return DashboardCollector(
                    registry: registry, store: try await SnapshotStore.open(database: database), configuration: configuration, logger: quietLogger)
            }
            let a = try await instance("a")
            let b = try await instance("b")
            try await Simulator.withRunning(simulatorConfiguration(1, "MECA-PolITO", hosts: 2), logger: quietLogger) { region in
                let database = try await SQLiteStore.open(path: path, migrations: [], logger: quietLogger)
                try await register(
                    region,
                    in: try await RegionRegistry.open(
                        database: database, secrets: try SecretBox.open(keyFile: directory.appendingPathComponent("secrets.key").path)))
                let leases = LeaseStore(store: database)

                let collectorA = Task { try await a.run() }
                try await Task.sleep(for: .milliseconds(100))
                let collectorB = Task { try await b.run() }
                /// Polls until `condition` holds (at most `seconds`).
                func eventually(_ seconds: Int, _ condition: () async throws -> Bool) async throws -> Bool {
                    let deadline = ContinuousClock.now + .seconds(seconds)
                    while ContinuousClock.now < deadline {
                        if try await condition() { return true }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    return false
                }
                // Several periods go by: every collection is the holder's (b never got the lease: the fence is
                // still 1), so there is one per period, never one per instance.
                #expect(try await eventually(120) { region.requestCount(for: "listCapabilities") >= 4 })
                let held = try await leases.current(DashboardCollector.leaseName)
                #expect(held?.holder == "a" && held?.fence == 1, "\(String(describing: held))")

                // The holder dies (no release): once its lease has run out, the other takes it over and collects.
                collectorA.cancel()
                _ = await collectorA.result
                let atDeath = region.requestCount(for: "listCapabilities")
                #expect(try await eventually(120) { try await leases.current(DashboardCollector.leaseName)?.holder == "b" })
                #expect(try await leases.current(DashboardCollector.leaseName)?.fence == 2)
                #expect(try await eventually(120) { region.requestCount(for: "listCapabilities") > atDeath })
                collectorB.cancel()
                _ = await collectorB.result
            }
        }
    }

    @Test(
        "an on-demand collection asked of two instances at once runs once, and each instance then serves what the other stored",
        arguments: TestDatabase.available)
    func onDemandOnce(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let database = try await backend.open(in: directory, migrations: [LeaseStore.migration])
            let registry = try await RegionRegistry.open(
                database: database, secrets: try SecretBox.open(keyFile: directory.appendingPathComponent("secrets.key").path))
            func instance(_ name: String) async throws -> DashboardCollector {
                var configuration = DashboardCollector.Configuration()
                configuration.leases = LeaseStore(store: database)
                configuration.instance = name
                return DashboardCollector(
                    registry: registry, store: try await SnapshotStore.open(database: database), configuration: configuration, logger: quietLogger)
            }
            let a = try await instance("a")
            let b = try await instance("b")
            var slow = simulatorConfiguration(1, "MECA-PolITO", hosts: 2)
            // A collection takes long enough for the two requests to meet, even on a loaded CI machine (300 ms once did not).
            slow.faults.answerDelayMilliseconds = ["listCapabilities": 2000]
            try await Simulator.withRunning(slow, logger: quietLogger) { region in
                try await register(region, in: registry)
                #expect(try await b.summary().regions.first?.snapshot == nil)
                async let first = a.collectNow()
                async let second = b.collectNow()
                let (reportA, reportB) = try await (first, second)
                #expect(region.requestCount(for: "listCapabilities") == 1)
                #expect(reportA.started == reportB.started && reportA.failed.isEmpty && reportB.failed.isEmpty)
                // Each instance sees the stored collection whichever ran it; the next one is seen at once too.
                #expect(try await a.summary().regions.first?.snapshot != nil)
                #expect(try await b.summary().regions.first?.snapshot != nil)
                let revision = try await b.revision()
                try await a.collectNow()
                #expect(try await b.revision() > revision)
                #expect(region.requestCount(for: "listCapabilities") == 2)
                #expect(try await LeaseStore(store: database).current(DashboardCollector.runningLeaseName)?.expires == 0)  // released
            }
        }
    }
}
