import Core
import Foundation
import SQLKit
import Storage

/// What booking did: accepted with its placements, or refused with the reasons and alternatives.
public enum BookingOutcome: Sendable, Hashable {
    case accepted(Booking, [Placement])
    case refused(CapacityPlanner.Refusal)
}

extension ClassroomStore {
    /// Checks `booking` against the federation and, when every session fits, stores it with its sessions and
    /// placements — in one transaction that holds the capacity lock from the read of the accepted bookings to the
    /// write, so no concurrent booking can take the same room. With `write: false`, only checks (the form's
    /// live answer).
    public func book(
        _ booking: Booking, regions: [RegionCapacity], planning: CapacityPlanner.Configuration, write: Bool = true
    ) async throws -> BookingOutcome {
        let sessions = try booking.sessions()
        let request = CapacityPlanner.Request(
            bookingID: booking.id, sessions: sessions.filter { !$0.skipped }, seats: booking.totalSeats, regions: booking.regions,
            allowSplit: booking.allowSplit)
        let margin = planning.widestMargin
        // Alternatives move a session by up to the widest shift: a refusal reads that much more around each.
        let widest = Double((planning.shifts.map(abs).max() ?? 0) * 60)
        @Sendable func planned(_ db: any SQLDatabase, around extra: Double) async throws -> CapacityPlanner.Outcome {
            let reservations = try await Self.reservations(db, windows: Self.windows(request.sessions, margin: margin + extra))
            return CapacityPlanner(
                regions: regions, reservations: ReservationIndex(reservations, lead: planning.leadSeconds, grace: planning.graceSeconds),
                configuration: planning
            ).plan(request)
        }
        @Sendable func decide(_ db: any SQLDatabase) async throws -> BookingOutcome {
            // Only the reservations that overlap a session matter: a term's sessions are a few hours in many weeks.
            var outcome = try await planned(db, around: 0)
            if case .refused = outcome, widest > 0 { outcome = try await planned(db, around: widest) }
            switch outcome {
            case .refused(let refusal): return .refused(refusal)
            case .accepted(let placements):
                if write { try await Self.insert(booking, sessions: sessions, placements: placements, db) }
                return .accepted(booking, placements)
            }
        }
        guard write else { return try await database.withDatabase { try await decide($0) } }
        return try await database.transaction { db in
            // The capacity lock: taken first, held to the commit (a row lock on PostgreSQL, the write lock on SQLite).
            try await Self.takeCapacityLock(db)
            return try await decide(db)
        }
    }

    /// The sessions' time spans widened by `margin` on both sides, overlapping ones merged, in order.
    static func windows(_ sessions: [Session], margin: Double) -> [(from: Double, to: Double)] {
        var merged: [(from: Double, to: Double)] = []
        for session in sessions.sorted(by: { $0.start < $1.start }) {
            let from = session.start.timeIntervalSince1970 - margin
            let to = session.end.timeIntervalSince1970 + margin
            if let last = merged.last, from <= last.to {
                merged[merged.count - 1].to = max(last.to, to)
            } else {
                merged.append((from, to))
            }
        }
        return merged
    }

    /// Accepted reservations overlapping any of `windows` (one query).
    static func reservations(_ db: any SQLDatabase, windows: [(from: Double, to: Double)]) async throws -> [Reservation] {
        guard !windows.isEmpty else { return [] }
        let overlaps = windows.map { window -> SQLQueryString in "(start_at < \(bind: window.to) AND end_at > \(bind: window.from))" }
        let query: SQLQueryString =
            "SELECT booking_id, session, region_id, seats, cpu_mhz, memory_bytes, start_at, end_at, lead_seconds FROM classroom_placements WHERE "
            + overlaps.joined(separator: " OR ")
        return try await db.raw(query).all().map(reservation)
    }

    /// Accepted reservations whose window, widened by `margin`, overlaps [from, to].
    static func reservations(_ db: any SQLDatabase, from: Double, to: Double, margin: Double) async throws -> [Reservation] {
        try await db.raw(
            """
            SELECT booking_id, session, region_id, seats, cpu_mhz, memory_bytes, start_at, end_at, lead_seconds FROM classroom_placements
            WHERE start_at < \(bind: to + margin) AND end_at > \(bind: from - margin)
            """
        ).all().map(reservation)
    }

    static func reservation(_ row: any SQLRow) throws -> Reservation {
        Reservation(
            bookingID: try row.decode(column: "booking_id", as: String.self), session: try row.decode(column: "session", as: Int.self),
            regionID: try row.decode(column: "region_id", as: Int.self),
            start: Date(timeIntervalSince1970: try row.decode(column: "start_at", as: Double.self)),
            end: Date(timeIntervalSince1970: try row.decode(column: "end_at", as: Double.self)),
            seats: try row.decode(column: "seats", as: Int.self),
            size: SeatSize(
                cpuMHz: try row.decode(column: "cpu_mhz", as: Int64.self), memoryBytes: try row.decode(column: "memory_bytes", as: Int64.self)),
            leadSeconds: try row.decode(column: "lead_seconds", as: Double?.self))
    }

    /// The capacity lock: taken first in every transaction that changes placements, held to the commit (a row lock
    /// on PostgreSQL, the write lock on SQLite), so such transactions run one after another.
    static func takeCapacityLock(_ db: any SQLDatabase) async throws {
        try await db.raw("UPDATE classroom_locks SET generation = generation + 1 WHERE name = 'capacity'").run()
    }

    /// The accepted reservations overlapping [from, to) (class times, without the lead and grace margins).
    public func reservations(from: Date, to: Date) async throws -> [Reservation] {
        try await database.withDatabase { db in
            try await Self.reservations(db, from: from.timeIntervalSince1970, to: to.timeIntervalSince1970, margin: 0)
        }
    }

    /// One booking's reservations.
    public func reservations(booking: String) async throws -> [Reservation] {
        try await database.withDatabase { db in
            try await db.raw("SELECT * FROM classroom_placements WHERE booking_id = \(bind: booking) ORDER BY session, region_id").all().map(
                Self.reservation)
        }
    }

    /// Every accepted reservation (for re-planning and the benchmark).
    public func allReservations() async throws -> [Reservation] {
        try await database.withDatabase { db in try await Self.reservations(db, from: -1e12, to: 1e12, margin: 0) }
    }

    private static func insert(_ booking: Booking, sessions: [Session], placements: [Placement], _ db: any SQLDatabase) async throws {
        let zone = try Booking.zone(booking.timeZone)
        let rule = booking.rule.map { $0.rrule(zone: zone) } ?? ""
        try await db.raw(
            """
            INSERT INTO classroom_bookings (id, course_id, uid, title, template, offering, seats, spares, time_zone, start_local, duration_minutes,
                rule, skipped, regions, allow_split, status, sequence, created, updated)
            VALUES (\(bind: booking.id), \(bind: booking.courseID), \(bind: booking.uid), \(bind: booking.title), \(bind: booking.template),
                \(bind: booking.offering), \(bind: booking.seats), \(bind: booking.spares), \(bind: booking.timeZone), \(bind: booking.start.description),
                \(bind: booking.durationMinutes), \(bind: rule), \(bind: booking.skipped.map(\.description).joined(separator: ",")),
                \(bind: booking.regions.map(String.init).joined(separator: ",")), \(bind: booking.allowSplit ? 1 : 0), \(bind: booking.status.rawValue),
                \(bind: booking.sequence), \(bind: booking.created), \(bind: booking.updated))
            """
        ).run()
        for session in sessions {
            try await db.raw(
                """
                INSERT INTO classroom_sessions (booking_id, session, local_start, start_at, end_at, state)
                VALUES (\(bind: booking.id), \(bind: session.index), \(bind: session.local.description), \(bind: session.start.timeIntervalSince1970),
                    \(bind: session.end.timeIntervalSince1970), \(bind: session.skipped ? SessionState.skipped.rawValue : SessionState.planned.rawValue))
                """
            ).run()
        }
        let byIndex = Dictionary(uniqueKeysWithValues: sessions.map { ($0.index, $0) })
        for placement in placements {
            let session = byIndex[placement.session]!
            try await db.raw(
                """
                INSERT INTO classroom_placements (booking_id, session, region_id, seats, cpu_mhz, memory_bytes, start_at, end_at, lead_seconds)
                VALUES (\(bind: booking.id), \(bind: placement.session), \(bind: placement.regionID), \(bind: placement.seats),
                    \(bind: placement.size.cpuMHz), \(bind: placement.size.memoryBytes), \(bind: session.start.timeIntervalSince1970),
                    \(bind: session.end.timeIntervalSince1970), \(bind: placement.leadSeconds))
                """
            ).run()
        }
    }

    /// A booking by id.
    /// - Throws: ``ClassroomError`` `notFound`.
    public func booking(_ id: String) async throws -> Booking {
        let row = try await database.withDatabase { db in try await db.raw("SELECT * FROM classroom_bookings WHERE id = \(bind: id)").first() }
        guard let row else { throw ClassroomError.notFound("booking \(id)") }
        return try Self.booking(row)
    }

    /// A course's bookings (every course's with nil), oldest first.
    public func bookings(course: String? = nil) async throws -> [Booking] {
        try await database.withDatabase { db in
            if let course {
                return try await db.raw("SELECT * FROM classroom_bookings WHERE course_id = \(bind: course) ORDER BY created, id").all().map(
                    Self.booking)
            }
            return try await db.raw("SELECT * FROM classroom_bookings ORDER BY created, id").all().map(Self.booking)
        }
    }

    static func booking(_ row: any SQLRow) throws -> Booking {
        let zone = try row.decode(column: "time_zone", as: String.self)
        let rule = try row.decode(column: "rule", as: String.self)
        let skipped = try row.decode(column: "skipped", as: String.self)
        let regions = try row.decode(column: "regions", as: String.self)
        return Booking(
            id: try row.decode(column: "id", as: String.self), courseID: try row.decode(column: "course_id", as: String.self),
            uid: try row.decode(column: "uid", as: String.self), title: try row.decode(column: "title", as: String.self),
            template: try row.decode(column: "template", as: String.self), offering: try row.decode(column: "offering", as: String.self),
            seats: try row.decode(column: "seats", as: Int.self), spares: try row.decode(column: "spares", as: Int.self), timeZone: zone,
            start: LocalDateTime(try row.decode(column: "start_local", as: String.self)) ?? LocalDateTime(year: 1970, month: 1, day: 1),
            durationMinutes: try row.decode(column: "duration_minutes", as: Int.self),
            rule: rule.isEmpty ? nil : try WeeklyRule(rrule: rule, zone: try Booking.zone(zone)),
            skipped: skipped.split(separator: ",").compactMap { LocalDate(String($0)) },
            regions: regions.split(separator: ",").compactMap { Int($0) },
            allowSplit: try row.decode(column: "allow_split", as: Int.self) != 0,
            status: Booking.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .cancelled,
            sequence: try row.decode(column: "sequence", as: Int.self), created: try row.decode(column: "created", as: String.self),
            updated: try row.decode(column: "updated", as: String.self))
    }

    /// Cancels a booking: its sessions that have not ended are cancelled and their placements released at once
    /// (the lifecycle engine tears down any seat already deployed); `SEQUENCE` goes up.
    /// - Throws: ``ClassroomError`` `notFound`, `conflict` when already cancelled.
    public func cancel(_ id: String, now: Date) async throws -> Booking {
        try await database.transaction { db in
            let booking = try await Self.lockedBooking(id, db)
            guard booking.status == .accepted else { throw ClassroomError.conflict("Booking \(id) is already cancelled.") }
            let time = now.timeIntervalSince1970
            try await db.raw(
                "DELETE FROM classroom_placements WHERE booking_id = \(bind: id) AND end_at > \(bind: time)"
            ).run()
            try await db.raw(
                """
                UPDATE classroom_sessions SET state = \(bind: SessionState.cancelled.rawValue)
                WHERE booking_id = \(bind: id) AND end_at > \(bind: time) AND state IN ('planned', 'provisioning', 'ready')
                """
            ).run()
            try await db.raw(
                """
                UPDATE classroom_bookings SET status = 'cancelled', sequence = sequence + 1, updated = \(bind: Timestamps.string(from: now))
                WHERE id = \(bind: id)
                """
            ).run()
            var after = booking
            after.status = .cancelled
            after.sequence += 1
            return after
        }
    }

    /// Skips one session (by its local date): it becomes an `EXDATE`, its placement is released, and a seat already
    /// deployed for it is torn down by the lifecycle engine.
    /// - Throws: ``ClassroomError`` `notFound`, `invalid` for a date that is not a session, `conflict` for one already over.
    public func skip(_ id: String, date: LocalDate, now: Date) async throws -> Booking {
        try await database.transaction { db in
            var booking = try await Self.lockedBooking(id, db)
            guard booking.status == .accepted else { throw ClassroomError.conflict("Booking \(id) is cancelled.") }
            guard let session = try booking.sessions().first(where: { $0.local.date == date }) else {
                throw ClassroomError.invalid("\(date) is not a session of booking \(id)")
            }
            guard !session.skipped else { return booking }
            guard session.end > now else { throw ClassroomError.conflict("The session of \(date) is over: it cannot be skipped.") }
            booking.skipped = Array(Set(booking.skipped + [date])).sorted()
            booking.sequence += 1
            booking.updated = Timestamps.string(from: now)
            try await db.raw("DELETE FROM classroom_placements WHERE booking_id = \(bind: id) AND session = \(bind: session.index)").run()
            try await db.raw(
                "UPDATE classroom_sessions SET state = 'skipped' WHERE booking_id = \(bind: id) AND session = \(bind: session.index)"
            ).run()
            try await db.raw(
                """
                UPDATE classroom_bookings SET skipped = \(bind: booking.skipped.map(\.description).joined(separator: ",")),
                    sequence = \(bind: booking.sequence), updated = \(bind: booking.updated) WHERE id = \(bind: id)
                """
            ).run()
            return booking
        }
    }

    private static func lockedBooking(_ id: String, _ db: any SQLDatabase) async throws -> Booking {
        try await Self.takeCapacityLock(db)
        guard let row = try await db.raw("SELECT * FROM classroom_bookings WHERE id = \(bind: id)").first() else {
            throw ClassroomError.notFound("booking \(id)")
        }
        return try booking(row)
    }

    /// New booking ids (`b-` and 16 hex digits).
    public static func newBookingID() -> String { "b-" + randomID() }
}

/// Where a session is in its life.
public enum SessionState: String, Sendable, Hashable, Codable {
    case planned
    case provisioning
    case ready
    /// Torn down after its end.
    case ended
    case skipped
    case cancelled
}
