import Core
import Foundation

/// An RFC 5545 calendar of bookings for subscription feeds (`METHOD:PUBLISH`): one `VEVENT` per series with a
/// stable `UID`, its `RRULE`, skipped sessions as `EXDATE`, `SEQUENCE` as stored (raised on every change), a
/// cancelled series as `STATUS:CANCELLED`; local times with a `VTIMEZONE` built from the zone's real transitions;
/// CRLF line ends, lines folded at 75 octets without splitting a UTF-8 character.
public struct ICalendar: Sendable {
    /// One series and what the calendar says about it.
    public struct Event: Sendable {
        public var booking: Booking
        public var courseTitle: String
        /// Where it runs (region names), for `LOCATION`.
        public var location: String
        public var url: String?

        public init(booking: Booking, courseTitle: String, location: String, url: String? = nil) {
            self.booking = booking
            self.courseTitle = courseTitle
            self.location = location
            self.url = url
        }
    }

    public var name: String
    public var events: [Event]

    public init(name: String, events: [Event]) {
        self.name = name
        self.events = events
    }

    /// The calendar's text, stamped `now`.
    public func text(now: Date) throws -> String {
        var lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//mClouds//Classroom scheduler//EN", "CALSCALE:GREGORIAN", "METHOD:PUBLISH"]
        lines.append("X-WR-CALNAME:" + Self.escape(name))
        // One VTIMEZONE per zone, covering every series in it.
        var spans: [String: (Date, Date)] = [:]
        for event in events {
            let sessions = try event.booking.sessions()
            guard let first = sessions.first?.start, let last = sessions.last?.end else { continue }
            let span = spans[event.booking.timeZone] ?? (first, last)
            spans[event.booking.timeZone] = (min(span.0, first), max(span.1, last))
        }
        for (zone, span) in spans.sorted(by: { $0.key < $1.key }) { lines += try Self.timeZone(zone, from: span.0, to: span.1) }
        let stamp = Self.utc(now)
        for event in events {
            let booking = event.booking
            let zone = try Booking.zone(booking.timeZone)
            let end = LocalDateTime.of(booking.start.instant(in: zone).addingTimeInterval(Double(booking.durationMinutes) * 60), in: zone)
            lines += [
                "BEGIN:VEVENT", "UID:" + booking.uid, "DTSTAMP:" + stamp, "SEQUENCE:\(booking.sequence)",
                "DTSTART;TZID=\(booking.timeZone):\(booking.start.iCalendar)", "DTEND;TZID=\(booking.timeZone):\(end.iCalendar)",
            ]
            if let rule = booking.rule { lines.append("RRULE:" + rule.rrule(zone: zone)) }
            let sessions = try booking.sessions()
            for session in sessions where session.skipped {
                lines.append("EXDATE;TZID=\(booking.timeZone):\(session.local.iCalendar)")
            }
            lines.append("SUMMARY:" + Self.escape("\(event.courseTitle): \(booking.title)"))
            lines.append(
                "DESCRIPTION:"
                    + Self.escape(
                        "\(booking.seats) seats (+\(booking.spares) spare) of \(booking.template) on \(booking.offering); booking \(booking.id)"))
            if !event.location.isEmpty { lines.append("LOCATION:" + Self.escape(event.location)) }
            if let url = event.url { lines.append("URL:" + url) }
            lines.append("STATUS:" + (booking.status == .cancelled ? "CANCELLED" : "CONFIRMED"))
            if let updated = Timestamps.date(from: booking.updated) { lines.append("LAST-MODIFIED:" + Self.utc(updated)) }
            lines.append("END:VEVENT")
        }
        lines.append("END:VCALENDAR")
        return lines.map(Self.fold).joined()
    }

    /// `VTIMEZONE` for `name` with every offset change between `from` and `to` (and the offset in force at `from`).
    static func timeZone(_ name: String, from: Date, to: Date) throws -> [String] {
        let zone = try Booking.zone(name)
        var lines = ["BEGIN:VTIMEZONE", "TZID:\(name)"]
        // The offset in force before the span: a component starting a year earlier.
        let before = from.addingTimeInterval(-366 * 86_400)
        var previous = zone.secondsFromGMT(for: before)
        lines += component(zone, at: before, fromOffset: previous, toOffset: previous)
        var cursor = before
        while let change = zone.nextDaylightSavingTimeTransition(after: cursor), change <= to.addingTimeInterval(86_400) {
            let offset = zone.secondsFromGMT(for: change)
            lines += component(zone, at: change, fromOffset: previous, toOffset: offset)
            previous = offset
            cursor = change
        }
        lines.append("END:VTIMEZONE")
        return lines
    }

    private static func component(_ zone: TimeZone, at instant: Date, fromOffset: Int, toOffset: Int) -> [String] {
        let daylight = zone.isDaylightSavingTime(for: instant)
        // DTSTART is the local time on the clock before the change.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: fromOffset)!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: instant)
        let start = String(format: "%04d%02d%02dT%02d%02d%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
        let kind = daylight ? "DAYLIGHT" : "STANDARD"
        return [
            "BEGIN:\(kind)", "DTSTART:\(start)", "TZOFFSETFROM:\(offset(fromOffset))", "TZOFFSETTO:\(offset(toOffset))",
            "TZNAME:\(zone.abbreviation(for: instant) ?? (daylight ? "DST" : "STD"))", "END:\(kind)",
        ]
    }

    static func offset(_ seconds: Int) -> String {
        let sign = seconds < 0 ? "-" : "+"
        let value = abs(seconds)
        return String(format: "%@%02d%02d", sign, value / 3600, (value % 3600) / 60)
    }

    static func utc(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    /// TEXT escaping (RFC 5545 §3.3.11).
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case ";": out += "\\;"
            case ",": out += "\\,"
            case "\n", "\r\n": out += "\\n"
            case "\r": continue
            default: out.append(character)
            }
        }
        return out
    }

    /// One content line folded at 75 octets (continuations start with a space, which counts), ended by CRLF.
    static func fold(_ line: String) -> String {
        var out = ""
        var used = 0
        var limit = 75
        for scalar in line.unicodeScalars {
            let size = String(scalar).utf8.count
            if used + size > limit {
                out += "\r\n "
                used = 1
                limit = 75
            }
            out.unicodeScalars.append(scalar)
            used += size
        }
        return out + "\r\n"
    }
}
