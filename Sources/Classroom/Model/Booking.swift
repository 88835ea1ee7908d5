import Foundation

/// A teacher's booking: one template on `seats` VMs (one per student, plus spares) for every session of a
/// weekly series, in the course's time zone. Accepted whole or not at all.
public struct Booking: Sendable, Hashable, Codable {
    public var id: String
    public var courseID: String
    /// The iCalendar UID of the series: made once from the id and never changed (calendar apps key on it).
    public var uid: String
    public var title: String
    /// A repository template name, resolved per region to the version its agent reports Ready.
    public var template: String
    /// A CloudStack service offering name, resolved per region.
    public var offering: String
    /// Students' seats.
    public var seats: Int
    /// Spare seats beyond the students' (a VM that fails to boot is replaced from them).
    public var spares: Int
    /// The IANA time zone the times are in (`Europe/Budapest`).
    public var timeZone: String
    /// The first session's start, local time.
    public var start: LocalDateTime
    public var durationMinutes: Int
    /// nil: a single session.
    public var rule: WeeklyRule?
    /// Sessions not held (local dates).
    public var skipped: [LocalDate]
    /// Region ids in order of preference; empty: anywhere.
    public var regions: [Int]
    /// Whether one session may be split across regions.
    public var allowSplit: Bool
    public var status: Status
    /// Raised on every change (iCalendar `SEQUENCE`).
    public var sequence: Int
    public var created: String
    public var updated: String

    public enum Status: String, Sendable, Hashable, Codable {
        case accepted
        case cancelled
    }

    /// Every seat of a session.
    public var totalSeats: Int { seats + spares }

    /// The zone, checked.
    /// - Throws: ``ClassroomError`` `invalid` for a name that is not an IANA time zone.
    public static func zone(_ name: String) throws -> TimeZone {
        guard name.contains("/") || name == "UTC", let zone = TimeZone(identifier: name) else {
            throw ClassroomError.invalid("\(name) is not an IANA time zone (e.g. Europe/Budapest, America/New_York, UTC)")
        }
        return zone
    }

    /// The series' sessions, every one the rule makes (skipped ones included, marked): their numbers stay the same
    /// when a date is skipped later.
    public func sessions() throws -> [Session] {
        let zone = try Self.zone(timeZone)
        let starts = try rule?.expand(from: start) ?? [start]
        let skip = Set(skipped)
        return starts.enumerated().map { index, local in
            let begin = local.instant(in: zone)
            return Session(
                index: index, local: local, start: begin, end: begin.addingTimeInterval(Double(durationMinutes) * 60),
                skipped: skip.contains(local.date))
        }
    }

    /// Checks the fields a teacher fills in.
    /// - Throws: ``ClassroomError`` `invalid`, naming the field.
    public func validate() throws {
        guard !title.isEmpty, title.count <= 200 else { throw ClassroomError.invalid("title must be 1 to 200 characters") }
        guard (1...500).contains(seats) else { throw ClassroomError.invalid("seats must be 1 to 500") }
        guard (0...100).contains(spares) else { throw ClassroomError.invalid("spares must be 0 to 100") }
        guard (15...720).contains(durationMinutes) else { throw ClassroomError.invalid("durationMinutes must be 15 to 720 (12 hours)") }
        guard !template.isEmpty, !offering.isEmpty else { throw ClassroomError.invalid("template and offering are required") }
        _ = try Self.zone(timeZone)
        let sessions = try sessions()
        guard sessions.contains(where: { !$0.skipped }) else { throw ClassroomError.invalid("every session is skipped: nothing to book") }
        for date in skipped where !sessions.contains(where: { $0.local.date == date }) {
            throw ClassroomError.invalid("skipped date \(date) is not a session of the series")
        }
    }
}

/// One session of a booking (an iCalendar occurrence), numbered from 0.
public struct Session: Sendable, Hashable, Codable {
    public var index: Int
    /// Its start on the course's wall clock (the `RECURRENCE-ID` / `EXDATE` value).
    public var local: LocalDateTime
    public var start: Date
    public var end: Date
    public var skipped: Bool
}
