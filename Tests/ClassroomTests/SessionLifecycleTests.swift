import CloudStack
import CloudStackSimulator
import Core
import Federation
import Foundation
import Logging
import Storage
import TestSupport
import Testing

@testable import Classroom

/// Clouds made of simulators, with generous capacity everywhere.
struct SimulatedClouds: ClassroomClouds {
    let simulators: [Int: Simulator]

    func regionIDs() async throws -> [Int] { simulators.keys.sorted() }

    func client(region: Int) async throws -> CloudStackClient {
        guard let simulator = simulators[region] else { throw ClassroomError.notFound("region \(region)") }
        return CloudStackClient(
            configuration: .init(endpoint: simulator.endpoint, apiKey: simulator.adminKeys.apikey!, secretKey: simulator.adminKeys.secretkey!))
    }

    func capacities(template: String, offering: String) async throws -> [RegionCapacity] {
        simulators.keys.sorted().map { id in
            RegionCapacity(
                regionID: id, name: "R\(id)", cpuMHz: 1_000_000, cpuMHzUsed: 0, memoryBytes: 1 << 42, memoryBytesUsed: 0,
                seatSize: SeatSize(cpuMHz: 2000, memoryBytes: 4 << 30), templateReady: true)
        }
    }
}

@Suite("Session lifecycle against simulators")
struct SessionLifecycleTests {
    static let start = "2026-09-15T09:00"
    static var logger: Logger {
        var logger = Logger(label: "test.lifecycle")
        logger.logLevel = .critical
        return logger
    }

    /// Two simulated regions with the template Ready (a built-in template tagged as an agent tags its copies),
    /// a store with one course, and a booking of `seats` (+1 spare) for two Tuesdays in region 1.
    static func withWorld(
        seats: Int = 4, regions: [Int] = [1], _ body: (ClassroomStore, SimulatedClouds, Booking, any SQLStore) async throws -> Void
    ) async throws {
        try await withClouds { clouds in
            try await withTemporaryDirectory { directory in
                let database = try await TestDatabase.sqlite.open(in: directory, migrations: [LeaseStore.migration])
                let store = try await ClassroomStore.open(database: database)
                let course = try await store.addCourse(
                    code: "EE-201", title: "Digital design", teacher: "alice", region: nil, timeZone: "Europe/Budapest",
                    now: Date(timeIntervalSince1970: 0))
                let request = BookingRequest(
                    title: "Lab", template: "ubuntu-eda", offering: "Medium Instance", seats: seats, spares: 1, start: LocalDateTime(start)!,
                    durationMinutes: 90, rrule: "FREQ=WEEKLY;BYDAY=TU;COUNT=2", regions: regions, allowSplit: regions.count > 1)
                let booking = try request.booking(id: ClassroomStore.newBookingID(), course: course, now: Date(timeIntervalSince1970: 0))
                guard
                    case .accepted = try await store.book(
                        booking, regions: try await clouds.capacities(template: "", offering: ""), planning: .init())
                else { throw ClassroomError.doesNotFit("the test booking must fit") }
                try await body(store, clouds, booking, database)
            }
        }
    }

    /// Two simulated regions (jobs of 20 ms) with the template `ubuntu-eda` Ready in both: a built-in template
    /// tagged as an agent tags its copies.
    static func withClouds(_ body: (SimulatedClouds) async throws -> Void) async throws {
        var one = SimulatorConfiguration.default(regionName: "R1")
        one.jobDurationMilliseconds = 20
        var two = SimulatorConfiguration.default(regionName: "R2")
        two.jobDurationMilliseconds = 20
        try await Simulator.withRunning(one, logger: logger) { first in
            try await Simulator.withRunning(two, logger: logger) { second in
                let clouds = SimulatedClouds(simulators: [1: first, 2: second])
                for region in [1, 2] {
                    let client = try await clouds.client(region: region)
                    let template = try #require(try await client.listTemplates(filter: .all, logger: logger).first { $0.isready == true })
                    try await client.createTags(
                        resourceIDs: [template.id!], resourceType: "Template", tags: [ResourceTag(key: "mclouds.template", value: "ubuntu-eda")],
                        logger: logger)
                }
                try await body(clouds)
            }
        }
    }

    static func engine(
        _ store: ClassroomStore, _ clouds: SimulatedClouds, _ database: any SQLStore, clock: ManualWallClock, instance: String = "a",
        secrets: SecretBox? = nil
    ) -> SessionLifecycle {
        var configuration = SessionLifecycle.Configuration()
        configuration.instance = instance
        configuration.sweepEvery = 1
        return SessionLifecycle(
            store: store, leases: LeaseStore(store: database), clouds: clouds, clock: clock, configuration: configuration, secrets: secrets,
            logger: logger)
    }

    static func seatVMs(_ clouds: SimulatedClouds, region: Int, booking: String) async throws -> [VirtualMachine] {
        try await clouds.client(region: region).listVirtualMachines(logger: logger).filter { $0.name?.hasPrefix("mc-\(booking)-") == true }
    }

    @Test("every seat is Running before the start, tagged to its booking, session and seat; after the end and grace nothing of the booking is left")
    func provisionsAheadAndTearsDown() async throws {
        try await Self.withWorld { store, clouds, booking, database in
            let sessions = try booking.sessions()
            let clock = ManualWallClock(sessions[0].start.addingTimeInterval(-2 * 3600))
            let engine = Self.engine(store, clouds, database, clock: clock)
            #expect(try await engine.tick().deployed == 0)  // two hours ahead: nothing yet
            #expect(try await Self.seatVMs(clouds, region: 1, booking: booking.id).isEmpty)
            clock.set(sessions[0].start.addingTimeInterval(-1790))  // the 30-minute lead has begun
            let report = try await engine.tick()
            #expect(report.ready == 5, "\(report)")
            let seats = try await store.seats(booking: booking.id, session: 0)
            #expect(seats.count == 5 && seats.allSatisfy { $0.state == .ready && $0.readyAt != nil && $0.regionID == 1 })
            #expect(try await store.sessions(booking: booking.id).first?.state == .ready)
            // Its time to ready is measured for the template there (a slow one gets a longer lead next time).
            #expect(try await store.deployTimes(template: "ubuntu-eda")[1].map { $0 >= 0 && $0 <= 1800 } == true)
            #expect(clock.now() < sessions[0].start)
            let vms = try await Self.seatVMs(clouds, region: 1, booking: booking.id)
            #expect(vms.count == 5 && vms.allSatisfy { $0.state == "Running" })
            #expect(
                vms.allSatisfy { vm in Set((vm.tags ?? []).compactMap(\.key)).isSuperset(of: ["mclouds.booking", "mclouds.session", "mclouds.seat"]) }
            )
            // Ticks while the class runs change nothing (no duplicates).
            clock.set(sessions[0].start.addingTimeInterval(600))
            _ = try await engine.tick()
            #expect(try await Self.seatVMs(clouds, region: 1, booking: booking.id).count == 5)
            // Not before the grace is over…
            clock.set(sessions[0].end.addingTimeInterval(600))
            #expect(try await engine.tick().tornDown == 0)
            // …then destroyed with expunge: no VM, no volume of the booking is left in any region.
            clock.set(sessions[0].end.addingTimeInterval(901))
            #expect(try await engine.tick().tornDown == 5)
            for region in [1, 2] {
                #expect(try await Self.seatVMs(clouds, region: region, booking: booking.id).isEmpty)
                let client = try await clouds.client(region: region)
                #expect(try await client.listVolumes(logger: Self.logger).allSatisfy { $0.vmname?.hasPrefix("mc-") != true })
                #expect(try await client.listTags(resourceType: "UserVm", logger: Self.logger).allSatisfy { $0.value != booking.id })
            }
            #expect(try await store.sessions(booking: booking.id).first?.state == .ended)
        }
    }

    @Test("a region that fails every deploy: its seats move to another region with room and are Running before the start")
    func failingRegion() async throws {
        try await Self.withWorld { store, clouds, booking, database in
            let sessions = try booking.sessions()
            var faults = FaultConfiguration()
            faults.errorRate = ["deployVirtualMachine": 1]
            clouds.simulators[1]!.setFaults(faults)
            let clock = ManualWallClock(sessions[0].start.addingTimeInterval(-1700))
            let engine = Self.engine(store, clouds, database, clock: clock)
            var ticks = 0
            repeat {
                _ = try await engine.tick()
                clock.advance(by: 15)
                ticks += 1
            } while try await store.seats(booking: booking.id, session: 0).contains(where: { $0.state != .ready }) && ticks < 6
            let seats = try await store.seats(booking: booking.id, session: 0)
            #expect(
                seats.count == 5 && seats.allSatisfy { $0.state == .ready && $0.regionID == 2 },
                "\(seats.map { ($0.state, $0.regionID, $0.error ?? "") })")
            #expect(clock.now() < sessions[0].start)
            #expect(try await Self.seatVMs(clouds, region: 2, booking: booking.id).count == 5)
            #expect(try await Self.seatVMs(clouds, region: 1, booking: booking.id).isEmpty)
            // The placement moved with them: region 2 holds the session's capacity now.
            let held = try await store.allReservations().filter { $0.session == 0 }
            #expect(held.map(\.regionID) == [2] && held.first?.seats == 5)
        }
    }

    @Test("a restart mid-provisioning resumes without duplicate VMs, and a second instance takes over once the first's lease runs out")
    func restartAndTakeover() async throws {
        try await Self.withWorld { store, clouds, booking, database in
            let sessions = try booking.sessions()
            // Deploys take effect at once but their answers are held back: the first instance dies waiting.
            var faults = FaultConfiguration()
            faults.answerDelayMilliseconds = ["deployVirtualMachine": 3000]
            clouds.simulators[1]!.setFaults(faults)
            let clock = ManualWallClock(sessions[0].start.addingTimeInterval(-1700))
            let first = Self.engine(store, clouds, database, clock: clock, instance: "first")
            let dying = Task { try await first.tick() }
            // Wait (real time, up to a minute on a loaded machine) until all five deploys have reached the region.
            for _ in 0..<600 where clouds.simulators[1]!.requestCount(for: "deployVirtualMachine") < 5 {
                try await Task.sleep(for: .milliseconds(100))
            }
            try await Task.sleep(for: .milliseconds(300))
            dying.cancel()
            _ = try? await dying.value
            #expect(try await Self.seatVMs(clouds, region: 1, booking: booking.id).count == 5)  // made, never confirmed
            #expect(try await store.seats(booking: booking.id, session: 0).allSatisfy { $0.vmID == nil })
            clouds.simulators[1]!.setFaults(FaultConfiguration())
            // The second instance waits while the lease is the first's…
            let second = Self.engine(store, clouds, database, clock: clock, instance: "second")
            #expect(try await second.tick().held == false)
            // …and takes over when it runs out: it adopts the VMs by name instead of deploying again.
            clock.advance(by: 61)
            let report = try await second.tick()
            #expect(report.held && report.ready == 5, "\(report)")
            #expect(try await Self.seatVMs(clouds, region: 1, booking: booking.id).count == 5)
            #expect(clouds.simulators[1]!.requestCount(for: "deployVirtualMachine") == 5)
        }
    }

    @Test("the sweeper destroys seat VMs whose seats are gone, and leaves other VMs alone")
    func sweepsOrphans() async throws {
        try await Self.withWorld { store, clouds, booking, database in
            let client = try await clouds.client(region: 2)
            let template = try #require(try await client.listTemplates(filter: .all, logger: Self.logger).first { $0.isready == true })
            let offering = try #require(try await client.listServiceOfferings(logger: Self.logger).first)
            for name in ["mc-b-0123456789abcdef-s3-7", "someone-elses-vm"] {
                var request = DeployVirtualMachineRequest(zoneID: template.zoneid!, templateID: template.id!, serviceOfferingID: offering.id!)
                request.name = name
                _ = try await client.deployVirtualMachine(request, logger: Self.logger)
            }
            let clock = ManualWallClock(Date(timeIntervalSince1970: 0))
            #expect(try await Self.engine(store, clouds, database, clock: clock).sweep() == 1)
            let names = try await client.listVirtualMachines(logger: Self.logger).compactMap(\.name)
            #expect(names.contains("someone-elses-vm") && !names.contains("mc-b-0123456789abcdef-s3-7"))
            #expect(SessionLifecycle.parse("mc-b-0123456789abcdef-s3-7") == "b-0123456789abcdef/3/7")
        }
    }
}
