import Core
import Foundation

/// What a teacher asks for (the booking form, `POST /api/v1/courses/{course}/bookings`, `mclouds class book`).
public struct BookingRequest: Sendable, Hashable, Codable {
    public var title: String
    public var template: String
    public var offering: String
    public var seats: Int
    public var spares: Int?
    /// The first session's local start, `2026-09-15T09:00`, in the course's time zone.
    public var start: LocalDateTime
    public var durationMinutes: Int
    /// An RFC 5545 weekly rule (`FREQ=WEEKLY;BYDAY=TU;COUNT=15`); nil or empty: one session.
    public var rrule: String?
    public var skipped: [LocalDate]?
    /// Region ids in order of preference; empty or nil: anywhere.
    public var regions: [Int]?
    public var allowSplit: Bool?

    public init(
        title: String, template: String, offering: String, seats: Int, spares: Int? = nil, start: LocalDateTime, durationMinutes: Int,
        rrule: String? = nil, skipped: [LocalDate]? = nil, regions: [Int]? = nil, allowSplit: Bool? = nil
    ) {
        self.title = title
        self.template = template
        self.offering = offering
        self.seats = seats
        self.spares = spares
        self.start = start
        self.durationMinutes = durationMinutes
        self.rrule = rrule
        self.skipped = skipped
        self.regions = regions
        self.allowSplit = allowSplit
    }

    /// The booking it would make for `course` (checked).
    /// - Throws: ``ClassroomError`` `invalid`, naming the field.
    public func booking(id: String, course: Course, now: Date) throws -> Booking {
        let zone = try Booking.zone(course.timeZone)
        let rule = try rrule.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : try WeeklyRule(rrule: $0, zone: zone) }
        let stamp = Timestamps.string(from: now)
        let booking = Booking(
            id: id, courseID: course.id, uid: Self.uid(id), title: title, template: template, offering: offering, seats: seats,
            spares: spares ?? 0, timeZone: course.timeZone, start: start, durationMinutes: durationMinutes, rule: rule,
            skipped: Array(Set(skipped ?? [])).sorted(), regions: regions ?? [], allowSplit: allowSplit ?? false, status: .accepted, sequence: 0,
            created: stamp, updated: stamp)
        try booking.validate()
        return booking
    }

    /// A stable, name-based UUID (version 5) of the booking id: the series' iCalendar UID, with no host or user in it.
    public static func uid(_ id: String) -> String {
        UUIDv5.make(namespace: UUIDv5.mclouds, name: "mclouds:booking:\(id)")
    }
}
