import Foundation

/// A weekly recurrence, the subset of RFC 5545's `RRULE` a term's classes need: `FREQ=WEEKLY` with `INTERVAL`,
/// `BYDAY` and an end — `UNTIL` (a last date, inclusive) or `COUNT` (a number of sessions). A rule without an end
/// would book forever, so one is required.
///
/// ```swift
/// let rule = try WeeklyRule(rrule: "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=15", zone: zone)
/// let sessions = try rule.expand(from: LocalDateTime("2026-09-15T09:00")!)
/// ```
public struct WeeklyRule: Sendable, Hashable, Codable {
    /// Every `interval` weeks (1: every week).
    public var interval: Int
    /// The days of the week, in week order.
    public var days: [Weekday]
    public var end: End

    public enum End: Sendable, Hashable, Codable {
        /// Through this date (inclusive) in the booking's time zone.
        case until(LocalDate)
        /// This many sessions (skipped dates included, as RFC 5545 counts them).
        case count(Int)
    }

    /// The most sessions one booking may have (a weekly class for more than four years is a mistake).
    public static let maximumSessions = 220

    public init(interval: Int = 1, days: [Weekday], end: End) {
        self.interval = interval
        self.days = Array(Set(days)).sorted()
        self.end = end
    }

    /// Reads an `RRULE` value (with or without the `RRULE:` prefix). A UTC `UNTIL` (as RFC 5545 requires beside a
    /// `DTSTART` with a time zone) is read as a date in `zone`.
    /// - Throws: ``ClassroomError`` `invalid`, naming the part that is wrong.
    public init(rrule text: String, zone: TimeZone) throws {
        var body = text.trimmingCharacters(in: .whitespaces)
        if body.uppercased().hasPrefix("RRULE:") { body = String(body.dropFirst(6)) }
        var frequency: String?
        var interval = 1
        var days: [Weekday] = []
        var end: End?
        for part in body.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1).map { String($0).uppercased() }
            guard pair.count == 2 else { throw ClassroomError.invalid("RRULE part \(part) is not NAME=VALUE") }
            switch pair[0] {
            case "FREQ": frequency = pair[1]
            case "INTERVAL":
                guard let value = Int(pair[1]), (1...52).contains(value) else { throw ClassroomError.invalid("RRULE INTERVAL must be 1 to 52") }
                interval = value
            case "BYDAY":
                for name in pair[1].split(separator: ",") {
                    guard let day = Weekday(rawValue: String(name)) else {
                        throw ClassroomError.invalid("RRULE BYDAY \(name) is not a day (MO, TU, WE, TH, FR, SA, SU; no ordinals)")
                    }
                    days.append(day)
                }
            case "COUNT":
                guard end == nil else { throw ClassroomError.invalid("RRULE takes UNTIL or COUNT, not both") }
                guard let value = Int(pair[1]), (1...Self.maximumSessions).contains(value) else {
                    throw ClassroomError.invalid("RRULE COUNT must be 1 to \(Self.maximumSessions)")
                }
                end = .count(value)
            case "UNTIL":
                guard end == nil else { throw ClassroomError.invalid("RRULE takes UNTIL or COUNT, not both") }
                guard let date = Self.untilDate(pair[1], zone: zone) else {
                    throw ClassroomError.invalid("RRULE UNTIL \(pair[1]) is not a date (20261218 or 20261218T225959Z)")
                }
                end = .until(date)
            case "WKST":
                guard pair[1] == "MO" else { throw ClassroomError.invalid("RRULE WKST must be MO") }
            default:
                throw ClassroomError.invalid("RRULE \(pair[0]) is not supported: weekly rules take FREQ, INTERVAL, BYDAY, UNTIL or COUNT")
            }
        }
        guard frequency == "WEEKLY" else { throw ClassroomError.invalid("RRULE must be FREQ=WEEKLY") }
        guard let end else { throw ClassroomError.invalid("RRULE needs an end: UNTIL=date or COUNT=n") }
        self.init(interval: interval, days: days, end: end)
    }

    private static func untilDate(_ text: String, zone: TimeZone) -> LocalDate? {
        func date(_ digits: Substring) -> LocalDate? {
            guard digits.count == 8 else { return nil }
            let s = String(digits)
            return LocalDate("\(s.prefix(4))-\(s.dropFirst(4).prefix(2))-\(s.suffix(2))")
        }
        if text.count == 8 { return date(Substring(text)) }
        guard text.count == 16, text.hasSuffix("Z"), let day = date(text.prefix(8)) else { return nil }
        let time = text.dropFirst(9).prefix(6)
        guard let h = Int(time.prefix(2)), let m = Int(time.dropFirst(2).prefix(2)), let s = Int(time.suffix(2)) else { return nil }
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        guard let instant = utc.date(from: DateComponents(year: day.year, month: day.month, day: day.day, hour: h, minute: m, second: s)) else {
            return nil
        }
        return LocalDateTime.of(instant, in: zone).date
    }

    /// The `RRULE` value for a series starting in `zone` (`UNTIL` as the UTC instant that ends its last local day).
    public func rrule(zone: TimeZone) -> String {
        var parts = ["FREQ=WEEKLY"]
        if interval != 1 { parts.append("INTERVAL=\(interval)") }
        // Without BYDAY the series keeps the first session's weekday (RFC 5545 §3.3.10); an empty BYDAY is invalid.
        if !days.isEmpty { parts.append("BYDAY=" + days.map(\.rawValue).joined(separator: ",")) }
        switch end {
        case .count(let n): parts.append("COUNT=\(n)")
        case .until(let date):
            let last = LocalDateTime(year: date.year, month: date.month, day: date.day, hour: 23, minute: 59).instant(in: zone).addingTimeInterval(59)
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = TimeZone(identifier: "UTC")!
            let c = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: last)
            parts.append(String(format: "UNTIL=%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!))
        }
        return parts.joined(separator: ";")
    }

    /// The sessions' wall-clock starts, first to last, beginning with `start` (which must fall on one of the days).
    /// - Throws: ``ClassroomError`` `invalid` when `start` is not on a rule day, no session results, or more than
    ///   ``maximumSessions`` would.
    public func expand(from start: LocalDateTime) throws -> [LocalDateTime] {
        let days = days.isEmpty ? [start.date.weekday] : days
        guard days.contains(start.date.weekday) else {
            throw ClassroomError.invalid(
                "The first session, \(start.date) (a \(start.date.weekday.rawValue)), is not on one of the rule's days \(days.map(\.rawValue)): start on one"
            )
        }
        let weekStart = start.date.adding(days: -start.date.weekday.index)
        var sessions: [LocalDateTime] = []
        var week = 0
        while true {
            for day in days {
                let date = weekStart.adding(days: week * 7 + day.index)
                if date < start.date { continue }
                switch end {
                case .count(let n) where sessions.count >= n: return sessions
                case .until(let last) where date > last:
                    guard !sessions.isEmpty else { throw ClassroomError.invalid("The rule ends (\(last)) before its first session (\(start.date))") }
                    return sessions
                default: break
                }
                guard sessions.count < Self.maximumSessions else {
                    throw ClassroomError.invalid("The rule makes more than \(Self.maximumSessions) sessions: end it earlier")
                }
                sessions.append(LocalDateTime(year: date.year, month: date.month, day: date.day, hour: start.hour, minute: start.minute))
            }
            week += interval
        }
    }
}
