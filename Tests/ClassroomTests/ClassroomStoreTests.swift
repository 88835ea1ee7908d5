import Foundation
import Storage
import TestSupport
import Testing

@testable import Classroom

@Suite("Classroom store")
struct ClassroomStoreTests {
    static let seat = SeatSize(cpuMHz: 2000, memoryBytes: 2 << 30)
    static let now = Date(timeIntervalSince1970: 1_788_000_000)  // 2026-08-29

    /// Two regions of 100 seats each under the headroom.
    static let regions = [1, 2].map { id in
        RegionCapacity(
            regionID: id, name: "R\(id)", cpuMHz: Int64((100.0 * 2000 / 0.85).rounded(.up)) + 1, cpuMHzUsed: 0, memoryBytes: 1 << 50,
            memoryBytesUsed: 0, seatSize: seat, templateReady: true)
    }

    static func secondInstance(_ database: any SQLStore, _ directory: URL) async throws -> ClassroomStore {
        if let url = (database as? PostgresStore)?.configuration.url {
            return ClassroomStore(database: try await PostgresStore.open(.init(url: url, poolSize: 4), migrations: []))
        }
        return ClassroomStore(database: try await SQLiteStore.open(path: directory.appendingPathComponent("catalog.sqlite").path, migrations: []))
    }

    static func bookConcurrently(_ count: Int, stores: [ClassroomStore], course: Course) async throws -> [BookingOutcome] {
        try await withThrowingTaskGroup(of: BookingOutcome.self) { group in
            for index in 0..<count {
                let store = stores[index % stores.count]
                group.addTask {
                    let booking = try request(seats: 18).booking(id: ClassroomStore.newBookingID(), course: course, now: now)
                    return try await store.book(booking, regions: regions, planning: .init())
                }
            }
            var outcomes: [BookingOutcome] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
    }

    static func acceptedBooking(_ outcome: BookingOutcome) -> Booking? {
        guard case .accepted(let booking, _) = outcome else { return nil }
        return booking
    }

    static func refusal(_ outcome: BookingOutcome) -> CapacityPlanner.Refusal? {
        guard case .refused(let refusal) = outcome else { return nil }
        return refusal
    }

    static func request(seats: Int, start: String = "2026-09-15T09:00") -> BookingRequest {
        BookingRequest(
            title: "Digital design lab", template: "ubuntu-eda", offering: "Medium", seats: seats, spares: 2, start: LocalDateTime(start)!,
            durationMinutes: 90, rrule: "FREQ=WEEKLY;BYDAY=TU;COUNT=15", regions: [])
    }

    @Test(
        "concurrent bookings that together exceed capacity, from two store instances: the accepted set fits, every refusal says why",
        arguments: TestDatabase.available)
    func noOverbooking(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let database = try await backend.open(in: directory, migrations: [])
            let first = try await ClassroomStore.open(database: database)
            // A second instance on the same database (on PostgreSQL, its own pool: another server).
            let second = try await Self.secondInstance(database, directory)
            let course = try await first.addCourse(
                code: "EE-201", title: "Digital design", teacher: "alice", region: "6", timeZone: "Europe/Budapest", now: Self.now)
            // 24 requests of 18 (+2 spares) = 480 seats per session, for 200 seats: at most 10 fit.
            let outcomes = try await Self.bookConcurrently(24, stores: [first, second], course: course)
            let accepted = outcomes.compactMap(Self.acceptedBooking)
            let refused = outcomes.compactMap(Self.refusal)
            #expect(accepted.count == 10, "\(accepted.count) accepted")
            #expect(refused.count == 14)
            #expect(refused.allSatisfy { !$0.shortfalls.isEmpty && $0.shortfalls.allSatisfy { $0.missingSeats > 0 && $0.resource == "cpu" } })
            // What is stored fits: per session and region, at most 100 seats.
            let reservations = try await first.allReservations()
            var load: [String: Int] = [:]
            for r in reservations { load["\(r.start.timeIntervalSince1970) \(r.regionID)", default: 0] += r.seats }
            #expect(!load.isEmpty && load.values.allSatisfy { $0 <= 100 }, "\(load)")
            #expect(try await first.bookings(course: course.id).count == 10)
        }
    }

    @Test(
        "a booking is stored whole with its sessions; skipping a date and cancelling release capacity and raise SEQUENCE",
        arguments: TestDatabase.available)
    func skipAndCancel(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let store = try await ClassroomStore.open(database: try await backend.open(in: directory, migrations: []))
            let course = try await store.addCourse(
                code: "EE-202", title: "Analog", teacher: "bob", region: nil, timeZone: "Europe/Budapest", now: Self.now)
            await #expect(throws: ClassroomError.conflict("")) {
                try await store.addCourse(code: "EE-202", title: "Again", teacher: "bob", region: nil, timeZone: "Europe/Budapest", now: Self.now)
            }
            var request = Self.request(seats: 98)
            request.regions = [1]
            let booking = try request.booking(id: "b-one", course: course, now: Self.now)
            guard case .accepted(let stored, let placements) = try await store.book(booking, regions: Self.regions, planning: .init()) else {
                Issue.record("100 seats fit in region 1")
                return
            }
            #expect(placements.count == 15 && placements.allSatisfy { $0.regionID == 1 && $0.seats == 100 })
            #expect(try await store.booking("b-one") == stored)
            #expect(stored.uid == BookingRequest.uid("b-one") && stored.sequence == 0)
            // Region 1 is full on every Tuesday; region 2 is proposed.
            let another = try request.booking(id: "b-two", course: course, now: Self.now)
            guard case .refused(let refusal) = try await store.book(another, regions: Self.regions, planning: .init()) else {
                Issue.record("region 1 is full")
                return
            }
            #expect(refusal.shortfalls.count == 15 && refusal.alternatives.contains { $0.kind == "region" && $0.regionID == 2 })
            // Skipping a date frees that Tuesday only.
            let skipped = try await store.skip("b-one", date: LocalDate("2026-09-22")!, now: Self.now)
            #expect(skipped.sequence == 1 && skipped.skipped == [LocalDate("2026-09-22")!])
            var single = Self.request(seats: 98, start: "2026-09-22T09:00")
            single.rrule = nil
            single.regions = [1]
            guard
                case .accepted = try await store.book(
                    try single.booking(id: "b-single", course: course, now: Self.now), regions: Self.regions, planning: .init())
            else {
                Issue.record("the skipped Tuesday is free")
                return
            }
            await #expect(throws: ClassroomError.invalid("")) { try await store.skip("b-one", date: LocalDate("2026-09-23")!, now: Self.now) }
            // Cancelling frees the rest.
            let cancelled = try await store.cancel("b-one", now: Self.now)
            #expect(cancelled.status == .cancelled && cancelled.sequence == 2)
            await #expect(throws: ClassroomError.conflict("")) { try await store.cancel("b-one", now: Self.now) }
            await #expect(throws: ClassroomError.notFound("")) { try await store.cancel("b-nope", now: Self.now) }
            // Only b-single's Tuesday is still taken in region 1.
            guard case .refused(let left) = try await store.book(another, regions: Self.regions, planning: .init()) else {
                Issue.record("b-single still holds 2026-09-22")
                return
            }
            #expect(left.shortfalls.map(\.start.description) == ["2026-09-22T09:00"])
        }
    }

    @Test("a class bigger than any region: refused whole, accepted split", arguments: TestDatabase.available)
    func split(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let store = try await ClassroomStore.open(database: try await backend.open(in: directory, migrations: []))
            let course = try await store.addCourse(
                code: "EE-203", title: "Big", teacher: "carol", region: nil, timeZone: "Europe/Budapest", now: Self.now)
            var request = Self.request(seats: 150)
            guard
                case .refused(let refusal) = try await store.book(
                    try request.booking(id: "b-a", course: course, now: Self.now), regions: Self.regions, planning: .init())
            else {
                Issue.record("152 seats do not fit one region")
                return
            }
            #expect(refusal.alternatives.map(\.kind).contains("split"))
            request.allowSplit = true
            guard
                case .accepted(_, let placements) = try await store.book(
                    try request.booking(id: "b-b", course: course, now: Self.now), regions: Self.regions, planning: .init())
            else {
                Issue.record("split fits")
                return
            }
            #expect(Set(placements.map(\.regionID)) == [1, 2] && placements.map(\.seats).reduce(0, +) == 152 * 15)
        }
    }
}

extension ClassroomStoreTests {
    @Test(
        "a slow template's longer lead is stored with its placements and makes the session due that much earlier; measured times to ready keep the slowest",
        arguments: TestDatabase.available)
    func slowTemplateLead(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let store = try await ClassroomStore.open(database: try await backend.open(in: directory, migrations: []))
            let course = try await store.addCourse(
                code: "EE-204", title: "Slow", teacher: "dan", region: nil, timeZone: "Europe/Budapest", now: Self.now)
            var slow = Self.regions[0]
            slow.measuredDeploySeconds = 3600  // → a lead of 2 h 5 min
            let booking = try Self.request(seats: 5, start: "2026-09-15T09:00").booking(id: "b-slow", course: course, now: Self.now)
            guard case .accepted = try await store.book(booking, regions: [slow], planning: .init()) else {
                Issue.record("it fits")
                return
            }
            #expect(Set(try await store.reservations(booking: "b-slow").map(\.leadSeconds)) == [7500])
            let start = try booking.sessions()[0].start
            let early = try await store.dueSessions(now: start.addingTimeInterval(-7000), lead: 1800, grace: 900).provision
            #expect(early.map(\.session) == [0])
            #expect(try await store.dueSessions(now: start.addingTimeInterval(-8000), lead: 1800, grace: 900).provision.isEmpty)

            try await store.startProvisioning(booking: "b-slow", session: 0, now: start.addingTimeInterval(-7000))
            try await store.recordTimeToReady(
                template: booking.template, booking: "b-slow", session: 0, regions: [1], now: start.addingTimeInterval(-7000 + 1200))
            #expect(try await store.deployTimes(template: booking.template) == [1: 1200])
            // A faster run pulls it down by a third of the difference; a slower one replaces it.
            try await store.recordTimeToReady(
                template: booking.template, booking: "b-slow", session: 0, regions: [1], now: start.addingTimeInterval(-7000 + 600))
            #expect(try await store.deployTimes(template: booking.template) == [1: 1000])
            try await store.recordTimeToReady(
                template: booking.template, booking: "b-slow", session: 0, regions: [1], now: start.addingTimeInterval(-7000 + 2000))
            #expect(try await store.deployTimes(template: booking.template) == [1: 2000])
        }
    }
}
