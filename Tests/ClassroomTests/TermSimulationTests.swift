import CloudStack
import CloudStackSimulator
import Core
import Crypto
import Federation
import Foundation
import Logging
import Storage
import TestSupport
import Testing

@testable import Classroom

/// A term of classes on simulators under an injected clock, with one region failing mid-provisioning: how many
/// seats answer on their forwarded port (a real TCP connect and banner from an allowed address) by ten and by
/// five minutes before each session's start.
@Suite("Term simulation: seats reachable on time")
struct TermSimulationTests {
    static let courses = 3
    static let seatsPerClass = 15
    /// Seconds between ticks (the engine's default is 15: a coarser step only makes seats look later).
    static let step: Double = 30

    @Test("three courses × two weeks × 16 seats, region 1 failing in the middle of the first tick: ≥ 99 % answer by T−10 min, 100 % by T−5")
    func reachableOnTime() async throws {
        try await SessionLifecycleTests.withClouds { clouds in
            let first = try #require(clouds.simulators[1])
            try await withTemporaryDirectory { directory in
                let database = try await TestDatabase.sqlite.open(in: directory, migrations: [LeaseStore.migration])
                let store = try await ClassroomStore.open(database: database)
                var bookings: [Booking] = []
                for index in 0..<Self.courses {
                    let course = try await store.addCourse(
                        code: "LAB-\(index)", title: "Lab \(index)", teacher: "t\(index)", region: nil, timeZone: "Europe/Budapest",
                        now: Date(timeIntervalSince1970: 0))
                    _ = try await store.setAllowedNetworks(course: course.id, ["127.10.0.0/16"])
                    try await store.setMembers(
                        course: course.id, group: "all",
                        (0..<Self.seatsPerClass).map { Member(username: "c\(index)s\($0)", email: "c\(index)s\($0)@uni.example", name: "S") })
                    // Courses an hour apart on Tuesdays, for two weeks, all in region 1.
                    let request = BookingRequest(
                        title: "Lab", template: "ubuntu-eda", offering: "Medium Instance", seats: Self.seatsPerClass, spares: 1,
                        start: LocalDateTime("2026-09-15T\(String(format: "%02d", 9 + index)):00")!, durationMinutes: 50,
                        rrule: "FREQ=WEEKLY;BYDAY=TU;COUNT=2", regions: [1])
                    let booking = try request.booking(id: ClassroomStore.newBookingID(), course: course, now: Date(timeIntervalSince1970: 0))
                    guard
                        case .accepted = try await store.book(
                            booking, regions: try await clouds.capacities(template: "", offering: ""), planning: .init())
                    else { throw ClassroomError.doesNotFit("the term's bookings must fit") }
                    bookings.append(booking)
                }
                let starts = try bookings.flatMap { booking in try booking.sessions().map { (booking, $0) } }.sorted { $0.1.start < $1.1.start }
                let clock = ManualWallClock(starts[0].1.start.addingTimeInterval(-1800))
                let engine = SessionLifecycleTests.engine(
                    store, clouds, database, clock: clock, secrets: SecretBox(key: SymmetricKey(size: .bits256)))
                var answeredAt: [String: Date] = [:]
                var total = 0
                var failed = false
                for (booking, session) in starts {
                    clock.set(max(clock.now(), session.start.addingTimeInterval(-1800)))
                    while clock.now() < session.start {
                        if !failed {
                            // Region 1 fails in the middle of the first tick, once a third of its deploys have gone out.
                            let ticking = Task { try await engine.tick() }
                            for _ in 0..<600 where first.requestCount(for: "deployVirtualMachine") < Self.seatsPerClass / 3 {
                                try await Task.sleep(for: .milliseconds(5))
                            }
                            var faults = FaultConfiguration()
                            faults.errorRate = ["deployVirtualMachine": 1]
                            first.setFaults(faults)
                            failed = true
                            _ = try await ticking.value
                        } else {
                            _ = try await engine.tick()
                        }
                        let seats = try await store.seats(booking: booking.id, session: session.index)
                        let waiting = seats.filter { answeredAt["\($0.bookingID)/\($0.session)/\($0.seat)"] == nil }
                        let outcomes = await SeatAccessTests.probeAll(waiting, from: SeatAccessTests.insideSource)
                        for seat in waiting where outcomes[seat.seat]?.answered == true {
                            answeredAt["\(seat.bookingID)/\(seat.session)/\(seat.seat)"] = clock.now()
                        }
                        clock.advance(by: Self.step)
                    }
                    total += booking.totalSeats
                }
                var byTen = 0
                var byFive = 0
                var latest = -Double.infinity
                for (booking, session) in starts {
                    for seat in 0..<booking.totalSeats {
                        guard let at = answeredAt["\(booking.id)/\(session.index)/\(seat)"] else { continue }
                        latest = max(latest, at.timeIntervalSince(session.start))
                        if at <= session.start.addingTimeInterval(-600) { byTen += 1 }
                        if at <= session.start.addingTimeInterval(-300) { byFive += 1 }
                    }
                }
                let moved = try await store.seats(booking: starts[0].0.id, session: 0).filter { $0.regionID == 2 }.count
                print(
                    "term simulation: \(total) seats in \(starts.count) sessions, region 1 failing in the first tick; "
                        + "answering by T−10 min: \(byTen) (\(String(format: "%.1f", 100 * Double(byTen) / Double(total))) %), "
                        + "by T−5 min: \(byFive) (\(String(format: "%.1f", 100 * Double(byFive) / Double(total))) %); "
                        + "the last seat answered at T\(String(format: "%.1f", latest / 60)) min; \(moved) seats of the first session moved to region 2"
                )
                #expect(total == Self.courses * 2 * (Self.seatsPerClass + 1))
                #expect(Double(byTen) >= 0.99 * Double(total))
                #expect(byFive == total)
                #expect(try await store.seats(booking: bookings[1].id, session: 0).allSatisfy { $0.regionID == 2 })
            }
        }
    }
}
