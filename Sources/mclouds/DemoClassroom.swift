import Access
import Classroom
import CloudStack
import Core
import Federation
import Foundation
import Logging

/// The demo's classroom: a teacher's weekly lab of a few seats, booked against the federation's capacity and
/// run on a fast clock, so its first session's seats appear in the simulators ahead of the start and disappear
/// after the end within a minute.
struct DemoClassroom {
    static let course = "DEMO-101"
    static let zone = "Europe/Budapest"
    /// The demo's clock runs this many times faster than the wall's.
    static let speed = 120.0

    let store: ClassroomStore
    let clouds: any ClassroomClouds
    let clock: any WallClock
    let lifecycle: SessionLifecycle.Configuration
    /// Collects the dashboard now; the federation's running VMs.
    let collect: @Sendable () async throws -> Int
    /// Where the demo's student signs in, their account, the key the seats' passwords are sealed with, and the
    /// folder the Guacamole export is written to.
    let centralURL: String
    let users: UserStore
    let secrets: SecretBox
    let exportDirectory: URL

    /// The student whose page and seat the demo shows, and the class's roster.
    static let student = "demo-student"
    static let roster = [student, "ana", "ben", "cyd"]

    /// The lifecycle's settings on the fast clock (the same durations, in the clock's time).
    static var lifecycleConfiguration: SessionLifecycle.Configuration {
        var configuration = SessionLifecycle.Configuration()
        configuration.tickSeconds = 30
        configuration.leaseSeconds = 600
        return configuration
    }

    /// Books the lab (cancelling an earlier run's), then with `follow` waits for its first session: every seat
    /// Running before the start, every VM gone after the end and grace. Returns false when a step failed.
    func run(template: String, follow: Bool, logger: Logger) async throws -> Bool {
        let course: Course
        if let existing = try? await store.course(Self.course) {
            course = existing
            for booking in try await store.bookings(course: course.id) where booking.status == .accepted {
                _ = try await store.cancel(booking.id, now: clock.now())
            }
        } else {
            course = try await store.addCourse(
                code: Self.course, title: "Cloud computing lab", teacher: "demo-teacher", region: nil, timeZone: Self.zone, now: clock.now())
        }
        // Students reach their seats from loopback (the simulators' public addresses are loopback addresses).
        _ = try await store.setAllowedNetworks(course: course.id, ["127.0.0.0/8"])
        try await store.setMembers(
            course: course.id, group: "lab", Self.roster.map { Member(username: $0, email: "\($0)@uni.example", name: $0) })
        let zone = try Booking.zone(Self.zone)
        // Starts 32 minutes from now on the demo's clock: its 30-minute lead begins at once.
        let start = LocalDateTime.of(clock.now().addingTimeInterval(32 * 60), in: zone)
        let request = BookingRequest(
            title: "Lab", template: template, offering: "Small Instance", seats: 4, spares: 1,
            start: LocalDateTime(year: start.year, month: start.month, day: start.day, hour: start.hour, minute: start.minute),
            durationMinutes: 20, rrule: "FREQ=WEEKLY;COUNT=3", regions: [], allowSplit: true)
        let booking = try request.booking(id: ClassroomStore.newBookingID(), course: course, now: clock.now())
        let regions = try await clouds.capacities(template: template, offering: booking.offering)
        let placements: [Placement]
        switch try await store.book(booking, regions: regions, planning: lifecycle.planning) {
        case .accepted(_, let made): placements = made
        case .refused(let refusal):
            Console.line(
                "error: the demo booking does not fit: \(refusal.shortfalls.first.map { "\($0.resource), \($0.missingSeats) seats short" } ?? "")")
            return false
        }
        let names = Dictionary(regions.map { ($0.regionID, $0.name) }, uniquingKeysWith: { a, _ in a })
        let first = placements.filter { $0.session == 0 }.map { "\($0.seats) in \(names[$0.regionID] ?? String($0.regionID))" }
        Console.line(
            "booked \(booking.id): \(course.code), \(booking.totalSeats) seats of \(template) every week ×3 from \(booking.start) \(Self.zone); first session: \(first.joined(separator: ", "))"
        )
        guard follow else { return true }

        let sessions = try booking.sessions()
        let session = sessions[0]
        guard let readyAt = try await waitFor("every seat Running", booking, session: 0, { seats in seats.allSatisfy { $0.state == .ready } })
        else { return false }
        let margin = session.start.timeIntervalSince(readyAt) / 60
        Console.line(
            String(
                format: "all %d seats Running at %@ on the demo clock, %.0f minutes before the start", booking.totalSeats,
                Self.clockTime(readyAt, zone), margin))
        let running = try await vmCount(booking)
        Console.line(
            "VMs of the booking in the simulators: \(running); the dashboard now counts \(try await collect()) running VMs in the federation")
        let reached = try await showStudent(booking, course)
        guard try await waitFor("every seat torn down", booking, session: 0, { seats in seats.allSatisfy { $0.state == .tornDown } }) != nil else {
            return false
        }
        let left = try await vmCount(booking)
        Console.line("after the end (\(Self.clockTime(session.end, zone)) + 15 min grace): \(left) VMs of the booking left in any region")
        return margin > 0 && running == booking.totalSeats && left == 0 && reached
    }

    /// The student's view of the ready session: their page and sign-in, their seat's `ssh` line tried against the
    /// simulator's forwarded port, and the session's Guacamole `user-mapping.xml`. False when the seat did not answer.
    private func showStudent(_ booking: Booking, _ course: Course) async throws -> Bool {
        let password = GuestSetup.newPassword()
        if (try? await users.user(Self.student)) != nil {
            try await users.setPassword(Self.student, password)
        } else {
            try await users.add(username: Self.student, displayName: "Demo student", role: .student, scope: nil, password: password)
        }
        let seats = try await store.seats(booking: booking.id, session: 0)
        guard let seat = seats.first(where: { $0.student == Self.student }), let access = seat.access, let address = access.address,
            let port = access.port
        else {
            Console.line("error: \(Self.student) has no open seat in the session")
            return false
        }
        let connection = SeatConnection(access: access, password: try secrets.open(access.sealedPassword))
        Console.line("student page:   \(centralURL)/my  (sign in as \(Self.student), password \(password))")
        let outcome = await ServiceProbe.probe(host: address, port: port, service: access.service)
        let answer: String
        switch outcome {
        case .ssh(let banner): answer = banner
        case .rdp: answer = "an RDP connection confirm"
        case .refused, .silent: answer = "no answer"
        }
        Console.line("their seat:     \(connection?.sshCommand ?? "\(address):\(port)")  → \(answer)")
        try FileManager.default.createDirectory(at: exportDirectory, withIntermediateDirectories: true)
        let file = exportDirectory.appendingPathComponent("user-mapping.xml")
        let entries = GuacamoleUserMapping.entries(seats, course: course, open: secrets.open)
        try Data(GuacamoleUserMapping.xml(entries).utf8).write(to: file)
        Console.line("Guacamole:      \(file.path)  (\(entries.count) students; also GET /api/v1/bookings/\(booking.id)/sessions/0/user-mapping.xml)")
        return outcome.answered
    }

    /// Waits (at most two real minutes) until the session's seats satisfy `condition`; the clock time then.
    private func waitFor(_ what: String, _ booking: Booking, session: Int, _ condition: ([Seat]) -> Bool) async throws -> Date? {
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let seats = try await store.seats(booking: booking.id, session: session)
            if seats.count == booking.totalSeats, condition(seats) { return clock.now() }
            try await Task.sleep(for: .milliseconds(200))
        }
        Console.line("error: the demo session did not reach \(what) in two minutes")
        return nil
    }

    /// The booking's VMs (by name) in every region.
    private func vmCount(_ booking: Booking) async throws -> Int {
        var count = 0
        for region in try await clouds.regionIDs() {
            let client = try await clouds.client(region: region)
            let tag = ResourceTag(key: SessionLifecycle.bookingTag, value: booking.id)
            count += try await client.listVirtualMachines(tags: [tag], logger: Logger(label: "demo")).count
        }
        return count
    }

    static func clockTime(_ date: Date, _ zone: TimeZone) -> String {
        let local = LocalDateTime.of(date, in: zone)
        return String(format: "%02d:%02d", local.hour, local.minute)
    }
}
