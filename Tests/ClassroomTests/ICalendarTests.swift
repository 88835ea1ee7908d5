import Foundation
import TestSupport
import Testing

@testable import Classroom

@Suite("iCalendar feed")
struct ICalendarTests {
    static func booking(id: String, rrule: String, skipped: [String] = [], start: String = "2026-10-13T09:00", title: String = "Lab") throws
        -> Booking
    {
        let course = Course(
            id: "c-1", code: "EE-201", title: "Digital design", teacher: "alice", region: nil, timeZone: "Europe/Budapest", created: "")
        return try BookingRequest(
            title: title, template: "ubuntu-eda", offering: "Medium", seats: 40, spares: 2, start: LocalDateTime(start)!, durationMinutes: 90,
            rrule: rrule, skipped: skipped.map { LocalDate($0)! }
        ).booking(id: id, course: course, now: Date(timeIntervalSince1970: 1_788_000_000))
    }

    static func calendar() throws -> (ICalendar, [Booking]) {
        var cancelled = try booking(
            id: "b-2", rrule: "FREQ=WEEKLY;BYDAY=TH;UNTIL=20261105", start: "2026-10-15T14:00",
            title: "Übung; Analog, ÁÉŐÜ — a long title that certainly needs folding")
        cancelled.status = .cancelled
        cancelled.sequence = 3
        let bookings = [try booking(id: "b-1", rrule: "FREQ=WEEKLY;BYDAY=TU;COUNT=5", skipped: ["2026-10-27"]), cancelled]
        return (ICalendar(name: "EE-201", events: bookings.map { .init(booking: $0, courseTitle: "Digital design", location: "MECA-TUS") }), bookings)
    }

    @Test("CRLF lines of at most 75 octets, folded without splitting a character; escaping; stable UIDs and SEQUENCE")
    func framing() throws {
        let (calendar, bookings) = try Self.calendar()
        let text = try calendar.text(now: Date(timeIntervalSince1970: 1_788_000_000))
        #expect(text.hasPrefix("BEGIN:VCALENDAR\r\n") && text.hasSuffix("END:VCALENDAR\r\n"))
        let lines = text.components(separatedBy: "\r\n").dropLast()
        #expect(lines.allSatisfy { $0.utf8.count <= 75 && !$0.contains("\n") && !$0.contains("\r") })
        #expect(lines.contains { $0.hasPrefix(" ") })
        let unfolded = text.replacingOccurrences(of: "\r\n ", with: "")
        #expect(unfolded.contains("SUMMARY:Digital design: Übung\\; Analog\\, ÁÉŐÜ — a long title"))
        #expect(unfolded.contains("EXDATE;TZID=Europe/Budapest:20261027T090000"))
        #expect(unfolded.contains("RRULE:FREQ=WEEKLY;BYDAY=TH;UNTIL=20261105T225959Z"))
        #expect(unfolded.contains("STATUS:CANCELLED") && unfolded.contains("SEQUENCE:3"))
        // The same booking exported again, later and changed, keeps its UID.
        #expect(bookings[0].uid == BookingRequest.uid("b-1") && unfolded.contains("UID:\(bookings[0].uid)"))
        let again = try calendar.text(now: Date(timeIntervalSince1970: 1_799_000_000))
        #expect(again.replacingOccurrences(of: "\r\n ", with: "").contains("UID:\(bookings[0].uid)"))
    }

    @Test(
        "Python's icalendar reads the feed and expands it to exactly the booked sessions, skipped dates absent, across the DST change",
        .enabled(if: Tools.available("ical-python")))
    func pythonExpands() async throws {
        let python = try #require(Tools.path("ical-python"), "scripts/test installs icalendar and recurring-ical-events")
        let (calendar, bookings) = try Self.calendar()
        try await withTemporaryDirectory { directory in
            let file = directory.appendingPathComponent("feed.ics")
            try Data(try calendar.text(now: Date()).utf8).write(to: file)
            let script = """
                import sys, json, icalendar, recurring_ical_events
                cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
                out = []
                for e in recurring_ical_events.of(cal).between((2026, 1, 1), (2027, 12, 31)):
                    s = e['DTSTART'].dt
                    out.append([str(e['UID']), s.strftime('%Y-%m-%dT%H:%M'), int(s.utcoffset().total_seconds()), str(e.get('STATUS'))])
                print(json.dumps(sorted(out)))
                """
            let result = try await runProgram(python, ["-c", script, file.path])
            #expect(result.status == 0, "\(result.stderr)")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[Any]])
            var expected: [String] = []
            for booking in bookings {
                for session in try booking.sessions() where !session.skipped {
                    let offset = TimeZone(identifier: "Europe/Budapest")!.secondsFromGMT(for: session.start)
                    expected.append("\(booking.uid) \(session.local) \(offset)")
                }
            }
            let got = rows.map { "\($0[0]) \($0[1]) \($0[2])" }
            #expect(got.sorted() == expected.sorted())
            // Summer time before 25 October, winter time after: 09:00 local both ways.
            #expect(got.contains { $0.hasSuffix("2026-10-20T09:00 7200") } && got.contains { $0.hasSuffix("2026-11-03T09:00 3600") })
            #expect(!got.contains { $0.contains("2026-10-27") })
        }
    }
}
