import Core
import Foundation
import SQLKit
import Storage

/// A session as the lifecycle engine sees it.
public struct SessionRecord: Sendable, Hashable, Codable {
    public var bookingID: String
    public var session: Int
    public var local: LocalDateTime
    public var start: Date
    public var end: Date
    public var state: SessionState
}

extension ClassroomStore {
    /// Sessions to provision (planned, starting within `lead`, not over) and to tear down (over their grace, or
    /// cancelled or skipped with seats still standing).
    public func dueSessions(now: Date, lead: Double, grace: Double) async throws -> (provision: [SessionRecord], tearDown: [SessionRecord]) {
        let time = now.timeIntervalSince1970
        return try await database.withDatabase { db in
            let provision = try await db.raw(
                """
                SELECT * FROM classroom_sessions WHERE state = 'planned' AND end_at + \(bind: grace) > \(bind: time)
                    AND (start_at <= \(bind: time + lead) OR start_at - (SELECT MAX(p.lead_seconds) FROM classroom_placements p
                        WHERE p.booking_id = classroom_sessions.booking_id AND p.session = classroom_sessions.session) <= \(bind: time))
                ORDER BY start_at
                """
            ).all().map(Self.session)
            let over = try await db.raw(
                """
                SELECT * FROM classroom_sessions WHERE (state IN ('provisioning', 'ready') AND end_at + \(bind: grace) <= \(bind: time))
                    OR (state IN ('cancelled', 'skipped') AND EXISTS (SELECT 1 FROM classroom_seats s WHERE s.booking_id = classroom_sessions.booking_id
                        AND s.session = classroom_sessions.session AND s.state <> 'torn-down'))
                ORDER BY start_at
                """
            ).all().map(Self.session)
            return (provision, over)
        }
    }

    /// Records how long a session's seats took from the start of provisioning to all Running, for its template in
    /// each of its regions: a slower time replaces the last at once, a faster one only pulls it down by a third
    /// (one lucky run does not shorten the lead of a slow template).
    public func recordTimeToReady(template: String, booking: String, session: Int, regions: Set<Int>, now: Date) async throws {
        try await database.transaction { db in
            guard
                let started = try await db.raw(
                    "SELECT provisioning_at FROM classroom_sessions WHERE booking_id = \(bind: booking) AND session = \(bind: session)"
                ).first(decodingColumn: "provisioning_at", as: Double?.self) ?? nil
            else { return }
            let seconds = max(0, now.timeIntervalSince1970 - started)
            for region in regions.sorted() {
                let old = try await db.raw(
                    "SELECT seconds FROM classroom_deploy_times WHERE template = \(bind: template) AND region_id = \(bind: region)"
                ).first(decodingColumn: "seconds", as: Double.self)
                let value = old.map { seconds >= $0 ? seconds : $0 - ($0 - seconds) / 3 } ?? seconds
                try await db.raw("DELETE FROM classroom_deploy_times WHERE template = \(bind: template) AND region_id = \(bind: region)").run()
                try await db.raw(
                    """
                    INSERT INTO classroom_deploy_times (template, region_id, seconds, measured)
                    VALUES (\(bind: template), \(bind: region), \(bind: value), \(bind: now.timeIntervalSince1970))
                    """
                ).run()
            }
        }
    }

    /// The measured time to ready of `template`'s seats per region.
    public func deployTimes(template: String) async throws -> [Int: Double] {
        try await database.withDatabase { db in
            var times: [Int: Double] = [:]
            for row in try await db.raw("SELECT region_id, seconds FROM classroom_deploy_times WHERE template = \(bind: template)").all() {
                times[try row.decode(column: "region_id", as: Int.self)] = try row.decode(column: "seconds", as: Double.self)
            }
            return times
        }
    }

    /// Sessions being provisioned or ready (their seats are checked each tick).
    public func liveSessions() async throws -> [SessionRecord] {
        try await database.withDatabase { db in
            try await db.raw("SELECT * FROM classroom_sessions WHERE state IN ('provisioning', 'ready') ORDER BY start_at").all().map(Self.session)
        }
    }

    /// A booking's sessions.
    public func sessions(booking: String) async throws -> [SessionRecord] {
        try await database.withDatabase { db in
            try await db.raw("SELECT * FROM classroom_sessions WHERE booking_id = \(bind: booking) ORDER BY session").all().map(Self.session)
        }
    }

    static func session(_ row: any SQLRow) throws -> SessionRecord {
        SessionRecord(
            bookingID: try row.decode(column: "booking_id", as: String.self), session: try row.decode(column: "session", as: Int.self),
            local: LocalDateTime(try row.decode(column: "local_start", as: String.self)) ?? LocalDateTime(year: 1970, month: 1, day: 1),
            start: Date(timeIntervalSince1970: try row.decode(column: "start_at", as: Double.self)),
            end: Date(timeIntervalSince1970: try row.decode(column: "end_at", as: Double.self)),
            state: SessionState(rawValue: try row.decode(column: "state", as: String.self)) ?? .planned)
    }

    /// Makes a planned session's seats from its placements (numbered region by region) and marks it provisioning.
    /// Does nothing to a session that is not planned, so that two calls — or two instances — make one set of seats.
    public func startProvisioning(booking: String, session: Int, now: Date) async throws {
        try await database.transaction { db in
            let state = try await db.raw(
                "SELECT state FROM classroom_sessions WHERE booking_id = \(bind: booking) AND session = \(bind: session)"
            ).first(decodingColumn: "state", as: String.self)
            guard state == SessionState.planned.rawValue else { return }
            let placements = try await db.raw(
                "SELECT region_id, seats FROM classroom_placements WHERE booking_id = \(bind: booking) AND session = \(bind: session) ORDER BY region_id"
            ).all()
            var seat = 0
            let stamp = Timestamps.string(from: now)
            for placement in placements {
                let region = try placement.decode(column: "region_id", as: Int.self)
                for _ in 0..<(try placement.decode(column: "seats", as: Int.self)) {
                    try await db.raw(
                        """
                        INSERT INTO classroom_seats (booking_id, session, seat, region_id, state, vm_id, vm_name, attempts, error, ready_at, updated)
                        VALUES (\(bind: booking), \(bind: session), \(bind: seat), \(bind: region), 'planned', NULL,
                            \(bind: Self.vmName(booking: booking, session: session, seat: seat)), 0, NULL, NULL, \(bind: stamp))
                        """
                    ).run()
                    seat += 1
                }
            }
            try await db.raw(
                """
                UPDATE classroom_sessions SET state = 'provisioning', provisioning_at = \(bind: now.timeIntervalSince1970)
                WHERE booking_id = \(bind: booking) AND session = \(bind: session)
                """
            ).run()
        }
    }

    /// `mc-<booking>-s<session>-<seat>`: the VM name, unique across the federation.
    public static func vmName(booking: String, session: Int, seat: Int) -> String { "mc-\(booking)-s\(session)-\(seat)" }

    /// A session's seats.
    public func seats(booking: String, session: Int? = nil) async throws -> [Seat] {
        try await database.withDatabase { db in
            if let session {
                return try await db.raw(
                    "SELECT * FROM classroom_seats WHERE booking_id = \(bind: booking) AND session = \(bind: session) ORDER BY seat"
                ).all().map(Self.seat)
            }
            return try await db.raw("SELECT * FROM classroom_seats WHERE booking_id = \(bind: booking) ORDER BY session, seat").all().map(Self.seat)
        }
    }

    /// Every seat not torn down, for the orphan sweeper.
    public func standingSeats() async throws -> [Seat] {
        try await database.withDatabase { db in
            try await db.raw("SELECT * FROM classroom_seats WHERE state <> 'torn-down'").all().map(Self.seat)
        }
    }

    static func seat(_ row: any SQLRow) throws -> Seat {
        Seat(
            bookingID: try row.decode(column: "booking_id", as: String.self), session: try row.decode(column: "session", as: Int.self),
            seat: try row.decode(column: "seat", as: Int.self), regionID: try row.decode(column: "region_id", as: Int.self),
            state: SeatState(rawValue: try row.decode(column: "state", as: String.self)) ?? .planned,
            vmID: try row.decode(column: "vm_id", as: String?.self),
            vmName: try row.decode(column: "vm_name", as: String.self), attempts: try row.decode(column: "attempts", as: Int.self),
            error: try row.decode(column: "error", as: String?.self), readyAt: try row.decode(column: "ready_at", as: String?.self),
            updated: try row.decode(column: "updated", as: String.self), student: try row.decode(column: "student", as: String?.self),
            access: try (row.decode(column: "access", as: String?.self)).flatMap { try? JSONDecoder().decode(SeatAccess.self, from: Data($0.utf8)) })
    }

    /// Writes a seat's state.
    public func update(_ seat: Seat) async throws {
        try await database.transaction { db in
            try await db.raw(
                """
                UPDATE classroom_seats SET region_id = \(bind: seat.regionID), state = \(bind: seat.state.rawValue), vm_id = \(bind: seat.vmID),
                    attempts = \(bind: seat.attempts), error = \(bind: seat.error), ready_at = \(bind: seat.readyAt), updated = \(bind: seat.updated)
                WHERE booking_id = \(bind: seat.bookingID) AND session = \(bind: seat.session) AND seat = \(bind: seat.seat)
                """
            ).run()
        }
    }

    /// Moves a seat that could not be placed in its region to `region` (a seat of `size` there), moving its
    /// placement with it under the capacity lock.
    public func move(_ seat: Seat, to region: Int, size: SeatSize, now: Date) async throws {
        try await database.transaction { db in
            try await Self.takeCapacityLock(db)
            let key = SQLQueryString("booking_id = \(bind: seat.bookingID) AND session = \(bind: seat.session)")
            try await db.raw("UPDATE classroom_placements SET seats = seats - 1 WHERE \(key) AND region_id = \(bind: seat.regionID)").run()
            try await db.raw("DELETE FROM classroom_placements WHERE \(key) AND seats <= 0").run()
            let existing = try await db.raw("SELECT seats FROM classroom_placements WHERE \(key) AND region_id = \(bind: region)").first()
            if existing != nil {
                try await db.raw("UPDATE classroom_placements SET seats = seats + 1 WHERE \(key) AND region_id = \(bind: region)").run()
            } else {
                let window = try await db.raw("SELECT start_at, end_at FROM classroom_sessions WHERE \(key)").first()
                try await db.raw(
                    """
                    INSERT INTO classroom_placements (booking_id, session, region_id, seats, cpu_mhz, memory_bytes, start_at, end_at)
                    VALUES (\(bind: seat.bookingID), \(bind: seat.session), \(bind: region), 1, \(bind: size.cpuMHz), \(bind: size.memoryBytes),
                        \(bind: try window?.decode(column: "start_at", as: Double.self) ?? 0), \(bind: try window?.decode(column: "end_at", as: Double.self) ?? 0))
                    """
                ).run()
            }
            try await db.raw(
                """
                UPDATE classroom_seats SET region_id = \(bind: region), state = 'planned', vm_id = NULL, attempts = 0,
                    updated = \(bind: Timestamps.string(from: now))
                WHERE booking_id = \(bind: seat.bookingID) AND session = \(bind: seat.session) AND seat = \(bind: seat.seat)
                """
            ).run()
        }
    }

    /// Sets a session's state.
    public func setState(_ state: SessionState, booking: String, session: Int) async throws {
        try await database.transaction { db in
            try await db.raw(
                "UPDATE classroom_sessions SET state = \(bind: state.rawValue) WHERE booking_id = \(bind: booking) AND session = \(bind: session)"
            ).run()
        }
    }
}

extension ClassroomStore {
    /// What the scheduler's standing seats (deploying or ready) take per region now, by their placements' sizes:
    /// the dashboard's "allocated" already counts them.
    public func standingUsage() async throws -> [Int: SeatSize] {
        try await database.withDatabase { db in
            let rows = try await db.raw(
                """
                SELECT s.region_id AS region_id, p.cpu_mhz AS cpu_mhz, p.memory_bytes AS memory_bytes FROM classroom_seats s
                JOIN classroom_placements p ON p.booking_id = s.booking_id AND p.session = s.session AND p.region_id = s.region_id
                WHERE s.state IN ('deploying', 'ready', 'resetting')
                """
            ).all()
            var usage: [Int: SeatSize] = [:]
            for row in rows {
                let region = try row.decode(column: "region_id", as: Int.self)
                var size = usage[region] ?? SeatSize(cpuMHz: 0, memoryBytes: 0)
                size.cpuMHz += try row.decode(column: "cpu_mhz", as: Int64.self)
                size.memoryBytes += try row.decode(column: "memory_bytes", as: Int64.self)
                usage[region] = size
            }
            return usage
        }
    }
}
