import Core
import Foundation
import SQLKit
import Storage

/// A public address associated for one session in one region and network.
public struct SessionAddress: Sendable, Hashable {
    public var bookingID: String
    public var session: Int
    public var regionID: Int
    public var networkID: String
    public var ipID: String
    public var address: String
}

extension ClassroomStore {
    // MARK: Allowed networks

    /// Sets the networks (CIDRs) students may reach a course's seats from; seats already open keep their rules
    /// until they are made again.
    /// - Throws: ``ClassroomError`` `invalid` for text that is not an IPv4 or IPv6 network.
    public func setAllowedNetworks(course: String, _ networks: [String]) async throws -> Course {
        var parsed: [String] = []
        for text in networks {
            guard let cidr = CIDR(text.trimmingCharacters(in: .whitespaces)) else {
                throw ClassroomError.invalid("'\(text)' is not a network: give CIDRs such as 192.0.2.0/24 or 2001:db8::/32")
            }
            parsed.append(cidr.description)
        }
        guard parsed.count <= 32 else { throw ClassroomError.invalid("at most 32 allowed networks per course") }
        var course = try await self.course(course)
        course.allowedNetworks = parsed
        let id = course.id
        let text = parsed.joined(separator: ",")
        try await database.transaction { db in
            try await db.raw("UPDATE classroom_courses SET allowed_networks = \(bind: text) WHERE id = \(bind: id)").run()
        }
        return course
    }

    // MARK: Students on seats

    /// Puts the course's students on a session's seats, in roster order (usernames sorted): a student keeps the
    /// seat they have; one no longer on the roster loses it; a student without a seat gets the lowest free one.
    /// Returns the number of seats whose student changed.
    @discardableResult
    public func assignStudents(booking: String, session: Int) async throws -> Int {
        try await database.transaction { db in
            guard
                let courseID = try await db.raw("SELECT course_id FROM classroom_bookings WHERE id = \(bind: booking)").first(
                    decodingColumn: "course_id", as: String.self)
            else { return 0 }
            let roster = Set(
                try await db.raw("SELECT DISTINCT username FROM classroom_members WHERE course_id = \(bind: courseID)").all().map {
                    try $0.decode(column: "username", as: String.self)
                })
            let seats = try await db.raw(
                "SELECT seat, student, state FROM classroom_seats WHERE booking_id = \(bind: booking) AND session = \(bind: session) ORDER BY seat"
            ).all().map {
                (seat: try $0.decode(column: "seat", as: Int.self), student: try $0.decode(column: "student", as: String?.self))
            }
            let plan = SeatAssignment.plan(seats: seats.map { ($0.seat, $0.student) }, roster: roster)
            for (seat, student) in plan.sorted(by: { $0.key < $1.key }) {
                try await db.raw(
                    """
                    UPDATE classroom_seats SET student = \(bind: student)
                    WHERE booking_id = \(bind: booking) AND session = \(bind: session) AND seat = \(bind: seat)
                    """
                ).run()
            }
            return plan.count
        }
    }

    /// Writes a seat's access (or clears it).
    public func setAccess(_ access: SeatAccess?, of seat: Seat) async throws {
        let text = try access.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await database.transaction { db in
            try await db.raw(
                """
                UPDATE classroom_seats SET access = \(bind: text)
                WHERE booking_id = \(bind: seat.bookingID) AND session = \(bind: seat.session) AND seat = \(bind: seat.seat)
                """
            ).run()
        }
    }

    /// Asks for a seat to be deployed again (a teacher's reset): the lifecycle destroys its VM and makes a new one
    /// with the same student and password. Only a ready or failed seat of a live session can be reset.
    /// - Throws: ``ClassroomError`` `notFound`, or `conflict` for a seat in another state.
    public func requestReset(booking: String, session: Int, seat: Int, now: Date) async throws {
        try await database.transaction { db in
            guard
                let state = try await db.raw(
                    "SELECT state FROM classroom_seats WHERE booking_id = \(bind: booking) AND session = \(bind: session) AND seat = \(bind: seat)"
                ).first(decodingColumn: "state", as: String.self)
            else { throw ClassroomError.notFound("seat \(seat + 1) of session \(session + 1) of booking \(booking)") }
            guard state == SeatState.ready.rawValue || state == SeatState.failed.rawValue else {
                throw ClassroomError.conflict("Seat \(seat + 1) is \(state): only a ready or failed seat can be reset; wait for it.")
            }
            try await db.raw(
                """
                UPDATE classroom_seats SET state = 'resetting', attempts = 0, error = NULL, updated = \(bind: Timestamps.string(from: now))
                WHERE booking_id = \(bind: booking) AND session = \(bind: session) AND seat = \(bind: seat)
                """
            ).run()
        }
    }

    /// The courses `username` is a student of (in any group).
    public func courses(member username: String) async throws -> [Course] {
        try await database.withDatabase { db in
            try await db.raw(
                """
                SELECT * FROM classroom_courses WHERE id IN (SELECT course_id FROM classroom_members WHERE username = \(bind: username))
                ORDER BY code
                """
            ).all().map(Self.course)
        }
    }

    /// Every seat assigned to `student` that is not torn down.
    public func seats(student: String) async throws -> [Seat] {
        try await database.withDatabase { db in
            try await db.raw(
                "SELECT * FROM classroom_seats WHERE student = \(bind: student) AND state <> 'torn-down' ORDER BY booking_id, session"
            ).all().map(Self.seat)
        }
    }

    // MARK: Public addresses

    /// The addresses associated for a session.
    public func addresses(booking: String, session: Int) async throws -> [SessionAddress] {
        try await database.withDatabase { db in
            try await db.raw(
                "SELECT * FROM classroom_addresses WHERE booking_id = \(bind: booking) AND session = \(bind: session) ORDER BY region_id, network_id"
            ).all().map(Self.address)
        }
    }

    /// Every address the scheduler holds.
    public func allAddresses() async throws -> [SessionAddress] {
        try await database.withDatabase { db in try await db.raw("SELECT * FROM classroom_addresses").all().map(Self.address) }
    }

    /// Records an address associated for a session.
    public func saveAddress(_ address: SessionAddress) async throws {
        try await database.transaction { db in
            try await db.raw(
                """
                INSERT INTO classroom_addresses (booking_id, session, region_id, network_id, ip_id, address)
                VALUES (\(bind: address.bookingID), \(bind: address.session), \(bind: address.regionID), \(bind: address.networkID),
                    \(bind: address.ipID), \(bind: address.address))
                """
            ).run()
        }
    }

    /// Forgets an address (it was released).
    public func deleteAddress(_ address: SessionAddress) async throws {
        try await database.transaction { db in
            try await db.raw("DELETE FROM classroom_addresses WHERE ip_id = \(bind: address.ipID)").run()
        }
    }

    static func address(_ row: any SQLRow) throws -> SessionAddress {
        SessionAddress(
            bookingID: try row.decode(column: "booking_id", as: String.self), session: try row.decode(column: "session", as: Int.self),
            regionID: try row.decode(column: "region_id", as: Int.self), networkID: try row.decode(column: "network_id", as: String.self),
            ipID: try row.decode(column: "ip_id", as: String.self), address: try row.decode(column: "address", as: String.self))
    }
}
