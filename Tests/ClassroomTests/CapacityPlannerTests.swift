import Foundation
import Testing

@testable import Classroom

@Suite("Capacity planner")
struct CapacityPlannerTests {
    static let seat = SeatSize(cpuMHz: 2000, memoryBytes: 2 << 30)
    static let zone = TimeZone(identifier: "Europe/Budapest")!

    /// A region that takes `seats` seats of `seat` under the 85 % headroom (and not one more).
    static func region(_ id: Int, seats: Int, ready: Bool = true, used: Int64 = 0) -> RegionCapacity {
        let cpu = Int64((Double(Int64(seats) * seat.cpuMHz + used) / 0.85).rounded(.up)) + 1
        return RegionCapacity(
            regionID: id, name: "R\(id)", cpuMHz: cpu, cpuMHzUsed: used, memoryBytes: 1 << 50, memoryBytesUsed: 0, seatSize: seat,
            templateReady: ready)
    }

    static func sessions(_ start: String = "2026-09-15T09:00", count: Int = 3, minutes: Int = 90) throws -> [Session] {
        let booking = Booking(
            id: "x", courseID: "c", uid: "u", title: "t", template: "t", offering: "o", seats: 1, spares: 0, timeZone: "Europe/Budapest",
            start: LocalDateTime(start)!, durationMinutes: minutes, rule: WeeklyRule(days: [LocalDateTime(start)!.date.weekday], end: .count(count)),
            skipped: [], regions: [], allowSplit: false, status: .accepted, sequence: 0, created: "", updated: "")
        return try booking.sessions()
    }

    static func reservations(_ sessions: [Session], region: Int, seats: Int, booking: String = "other") -> [Reservation] {
        sessions.map { Reservation(bookingID: booking, session: $0.index, regionID: region, start: $0.start, end: $0.end, seats: seats, size: seat) }
    }

    struct Unexpected: Error {}

    func accepted(_ outcome: CapacityPlanner.Outcome, _ comment: Comment = "") throws -> [Placement] {
        guard case .accepted(let placements) = outcome else {
            Issue.record("refused: \(outcome) \(comment)")
            throw Unexpected()
        }
        return placements
    }

    func refused(_ outcome: CapacityPlanner.Outcome, _ comment: Comment = "") throws -> CapacityPlanner.Refusal {
        guard case .refused(let refusal) = outcome else {
            Issue.record("accepted: \(outcome) \(comment)")
            throw Unexpected()
        }
        return refusal
    }

    func planner(_ regions: [RegionCapacity], _ reservations: [Reservation] = [], policy: CapacityPlanner.Policy = .pack) -> CapacityPlanner {
        var configuration = CapacityPlanner.Configuration()
        configuration.policy = policy
        return CapacityPlanner(
            regions: regions, reservations: ReservationIndex(reservations, lead: configuration.leadSeconds, grace: configuration.graceSeconds),
            configuration: configuration)
    }

    @Test("a class fits exactly at the 85 % headroom and not with one seat more; existing bookings count at their peak")
    func headroom() throws {
        let sessions = try Self.sessions()
        let request = CapacityPlanner.Request(bookingID: "b", sessions: sessions, seats: 40, regions: [], allowSplit: false)
        let placements = try accepted(planner([Self.region(1, seats: 40)]).plan(request))
        #expect(placements.count == 3 && placements.allSatisfy { $0.regionID == 1 && $0.seats == 40 })
        var more = request
        more.seats = 41
        let refusal = try refused(planner([Self.region(1, seats: 40)]).plan(more))
        #expect(refusal.shortfalls.count == 3)
        let first = try #require(refusal.shortfalls.first)
        #expect(first.session == 0 && first.regionID == 1 && first.resource == "cpu" && first.missingSeats == 1)
        #expect(refusal.shortfalls.first?.start == LocalDateTime("2026-09-15T09:00"))
        // Another booking of 30 seats in the same hours leaves 10.
        let busy = planner([Self.region(1, seats: 40)], Self.reservations(sessions, region: 1, seats: 30))
        var ten = request
        ten.seats = 10
        #expect(busy.plan(ten) == .accepted(sessions.map { Placement(session: $0.index, regionID: 1, seats: 10, size: Self.seat) }))
        ten.seats = 11
        let short = try refused(busy.plan(ten))
        #expect(short.shortfalls.first?.missingSeats == 1)
        // The booking's own reservations do not count against it (re-planning).
        let own = planner([Self.region(1, seats: 40)], Self.reservations(sessions, region: 1, seats: 40, booking: "b"))
        _ = try accepted(own.plan(request))
    }

    @Test("lead time and grace widen every window: a class ending 10 minutes before another starts overlaps it; one a day later does not")
    func margins() throws {
        let morning = try Self.sessions("2026-09-15T09:00", count: 1, minutes: 90)  // 09:00–10:30
        let late = try Self.sessions("2026-09-15T10:40", count: 1)  // starts 10 min after; lead 30 min → overlap
        let tomorrow = try Self.sessions("2026-09-16T09:00", count: 1)
        let region = Self.region(1, seats: 40)
        let p = planner([region], Self.reservations(morning, region: 1, seats: 40))
        let ask = { (sessions: [Session]) in CapacityPlanner.Request(bookingID: "b", sessions: sessions, seats: 1, regions: [], allowSplit: false) }
        if case .accepted = p.plan(ask(late)) { Issue.record("a class in the grace and lead window must count the other") }
        if case .refused = p.plan(ask(tomorrow)) { Issue.record("a class the next day is free") }
        // Back-to-back windows (grace end = lead start) do not add up.
        var configuration = CapacityPlanner.Configuration()
        configuration.leadSeconds = 0
        configuration.graceSeconds = 0
        let exact = CapacityPlanner(
            regions: [region], reservations: ReservationIndex(Self.reservations(morning, region: 1, seats: 40), lead: 0, grace: 0),
            configuration: configuration)
        let next = try Self.sessions("2026-09-15T10:30", count: 1)
        if case .refused = exact.plan(ask(next)) { Issue.record("back-to-back without margins must fit") }
    }

    @Test("only regions with the template Ready and the offering qualify; pack takes the tightest that fits, spread the roomiest")
    func regionChoice() throws {
        let sessions = try Self.sessions()
        let request = CapacityPlanner.Request(bookingID: "b", sessions: sessions, seats: 20, regions: [], allowSplit: false)
        let regions = [
            Self.region(1, seats: 100), Self.region(2, seats: 25), Self.region(3, seats: 500, ready: false),
            {
                var r = Self.region(4, seats: 500); r.seatSize = nil; return r
            }(),
        ]
        let packed = try accepted(planner(regions).plan(request))
        let spread = try accepted(planner(regions, policy: .spread).plan(request))
        #expect(Set(packed.map(\.regionID)) == [2])
        #expect(Set(spread.map(\.regionID)) == [1])
        // A preference list is kept in order, and limits the regions.
        var preferred = request
        preferred.regions = [1, 2]
        if case .accepted(let p) = planner(regions).plan(preferred) { #expect(Set(p.map(\.regionID)) == [1]) }
        preferred.regions = [3]
        let refusal = try refused(planner(regions).plan(preferred))
        #expect(refusal.shortfalls.first?.resource == "template")
        #expect(refusal.alternatives.contains { $0.kind == "region" && $0.regionID == 1 })
        #expect(refusal.alternatives.contains { $0.kind == "region" && $0.regionID == 2 })
    }

    @Test("a class too big for any region is split when allowed; refused otherwise, with a split and other times proposed")
    func splitsAndAlternatives() throws {
        let sessions = try Self.sessions()
        let regions = [Self.region(1, seats: 30), Self.region(2, seats: 30)]
        var request = CapacityPlanner.Request(bookingID: "b", sessions: sessions, seats: 50, regions: [], allowSplit: true)
        let placements = try accepted(planner(regions).plan(request))
        for session in sessions {
            #expect(placements.filter { $0.session == session.index }.map(\.seats).reduce(0, +) == 50)
        }
        request.allowSplit = false
        let refusal = try refused(planner(regions).plan(request))
        #expect(refusal.alternatives.map(\.kind).contains("split"))
        // A class that fits only when moved: the morning is taken, the afternoon free.
        let busy = planner([Self.region(1, seats: 40)], Self.reservations(sessions, region: 1, seats: 40))
        let small = CapacityPlanner.Request(bookingID: "b", sessions: sessions, seats: 10, regions: [], allowSplit: false)
        let moved = try refused(busy.plan(small))
        let shifts = moved.alternatives.filter { $0.kind == "shift" }.compactMap(\.shiftMinutes)
        #expect(!shifts.isEmpty && shifts.allSatisfy { abs($0) >= 120 }, "\(moved.alternatives)")
        #expect(shifts.count <= 3)
    }

    @Test("the peak, not the sum: two 20-seat classes one after the other leave room for 20 more in a 40-seat region")
    func peakNotSum() throws {
        let first = try Self.sessions("2026-09-15T08:00", count: 1, minutes: 60)
        let second = try Self.sessions("2026-09-15T12:00", count: 1, minutes: 60)
        let across = try Self.sessions("2026-09-15T07:30", count: 1, minutes: 360)
        let p = planner(
            [Self.region(1, seats: 40)],
            Self.reservations(first, region: 1, seats: 20, booking: "a") + Self.reservations(second, region: 1, seats: 20, booking: "c"))
        let request = CapacityPlanner.Request(bookingID: "b", sessions: across, seats: 20, regions: [], allowSplit: false)
        if case .refused(let r) = p.plan(request) { Issue.record("peak is 20, not 40: \(r)") }
        var more = request
        more.seats = 21
        if case .accepted = p.plan(more) { Issue.record("21 + 20 > 40") }
    }
}

extension CapacityPlannerTests {
    @Test(
        "a template measured slow in a region gets a longer lead (twice the time plus 5 min, capped): its seats are planned from then, so a class that ends an hour before no longer leaves room there"
    )
    func slowTemplateLead() throws {
        let configuration = CapacityPlanner.Configuration()
        #expect(configuration.lead(measured: nil) == 1800 && configuration.lead(measured: 300) == 1800)
        #expect(configuration.lead(measured: 1800) == 3900 && configuration.lead(measured: 86_400) == 4 * 3600)
        let earlier = try Self.sessions("2026-09-15T08:00", count: 1)
        let later = try Self.sessions("2026-09-15T10:30", count: 1)
        let full = Self.reservations(earlier, region: 1, seats: 10)
        let request = CapacityPlanner.Request(bookingID: "new", sessions: later, seats: 10, regions: [], allowSplit: false)
        // The usual 30-minute lead: the window starts at 10:00, after the earlier class's grace ends at 09:45.
        let quick = try accepted(planner([Self.region(1, seats: 10)], full).plan(request))
        #expect(quick.map(\.leadSeconds) == [nil])
        // Measured at 30 minutes there: a 65-minute lead starts the window at 09:25, inside the earlier class's.
        var slow = Self.region(1, seats: 10)
        slow.measuredDeploySeconds = 1800
        let refusal = try refused(planner([slow], full).plan(request))
        #expect(refusal.shortfalls.first?.missingSeats == 10)
        var empty = slow
        empty.regionID = 2
        let placed = try accepted(planner([slow, empty], full).plan(request))
        #expect(placed.map(\.regionID) == [2] && placed.map(\.leadSeconds) == [3900])
        // A reservation planned with a long lead holds its seats from then.
        let held = ReservationIndex(
            [
                Reservation(
                    bookingID: "b", session: 0, regionID: 1, start: later[0].start, end: later[0].end, seats: 1, size: Self.seat, leadSeconds: 7200)
            ],
            lead: 1800, grace: 900)
        let before = later[0].start.timeIntervalSince1970
        #expect(held.peak(region: 1, from: before - 7000, to: before - 6000).cpu == Self.seat.cpuMHz)
        #expect(held.peak(region: 1, from: before - 9000, to: before - 7300).cpu == 0)
    }
}
