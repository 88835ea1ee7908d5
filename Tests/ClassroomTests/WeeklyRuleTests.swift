import Foundation
import Testing

@testable import Classroom

@Suite("Weekly rules and local times")
struct WeeklyRuleTests {
    let budapest = TimeZone(identifier: "Europe/Budapest")!

    @Test("BYDAY, INTERVAL, COUNT and UNTIL expand to the right dates; RRULE round-trips with UNTIL in UTC")
    func expands() throws {
        let start = try #require(LocalDateTime("2026-09-15T09:00"))  // a Tuesday
        let weekly = try WeeklyRule(rrule: "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=5", zone: budapest)
        #expect(
            try weekly.expand(from: start).map(\.description) == [
                "2026-09-15T09:00", "2026-09-17T09:00", "2026-09-22T09:00", "2026-09-24T09:00", "2026-09-29T09:00",
            ])
        let fortnightly = try WeeklyRule(rrule: "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;UNTIL=20261027", zone: budapest)
        #expect(try fortnightly.expand(from: start).map(\.date.description) == ["2026-09-15", "2026-09-29", "2026-10-13", "2026-10-27"])
        // UNTIL in UTC is the end of the last local day; read back it names the same date.
        let text = fortnightly.rrule(zone: budapest)
        #expect(text == "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;UNTIL=20261027T225959Z")  // CET by then: UTC+1
        #expect(try WeeklyRule(rrule: text, zone: budapest) == fortnightly)
        #expect(try WeeklyRule(rrule: "FREQ=WEEKLY;BYDAY=MO;UNTIL=20261221T225959Z", zone: budapest).end == .until(LocalDate("2026-12-21")!))
        // Without BYDAY: the first session's weekday, and the rule written back has no empty BYDAY.
        let plain = try WeeklyRule(rrule: "FREQ=WEEKLY;COUNT=3", zone: budapest)
        #expect(try plain.expand(from: start).map(\.date.description) == ["2026-09-15", "2026-09-22", "2026-09-29"])
        #expect(plain.rrule(zone: budapest) == "FREQ=WEEKLY;COUNT=3")
        #expect(try WeeklyRule(rrule: plain.rrule(zone: budapest), zone: budapest) == plain)
    }

    @Test("the class stays at 09:00 local across the end of daylight-saving time: its UTC hour moves")
    func daylightSaving() throws {
        let start = try #require(LocalDateTime("2026-10-20T09:00"))
        let sessions = try WeeklyRule(days: [.tuesday], end: .count(2)).expand(from: start)
        let instants = sessions.map { $0.instant(in: budapest) }
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        // 2026-10-25 clocks go back: 09:00 CEST is 07:00 UTC, 09:00 CET is 08:00 UTC.
        #expect(instants.map { utc.component(.hour, from: $0) } == [7, 8])
        #expect(instants[1].timeIntervalSince(instants[0]) == 7 * 86_400 + 3600)
        #expect(LocalDateTime.of(instants[1], in: budapest) == sessions[1])
        // A time the spring-forward night skips is taken as the hour after.
        let skipped = try #require(LocalDateTime("2026-03-29T02:30")).instant(in: budapest)
        #expect(LocalDateTime.of(skipped, in: budapest).hour == 3)
    }

    @Test("malformed rules, dates and zones are refused with the part named")
    func refuses() throws {
        for bad in [
            "FREQ=DAILY;COUNT=3", "FREQ=WEEKLY;BYDAY=TU", "FREQ=WEEKLY;BYDAY=1TU;COUNT=3", "FREQ=WEEKLY;COUNT=3;UNTIL=20261201",
            "FREQ=WEEKLY;COUNT=0", "FREQ=WEEKLY;COUNT=999", "FREQ=WEEKLY;BYMONTH=1;COUNT=2", "FREQ=WEEKLY;UNTIL=2026-12-01", "garbage",
        ] {
            #expect(throws: ClassroomError.invalid("")) { try WeeklyRule(rrule: bad, zone: budapest) }
        }
        for bad in ["2026-02-30T09:00", "2026-09-15T25:00", "2026-9-15T09:00", "2026-09-15", "x"] { #expect(LocalDateTime(bad) == nil, "\(bad)") }
        #expect(throws: ClassroomError.invalid("")) { try Booking.zone("Mars/Olympus") }
        #expect(throws: ClassroomError.invalid("")) { try Booking.zone("CET-ish") }
        // The first session must be on a rule day; a rule that ends before it makes nothing.
        let monday = try #require(LocalDateTime("2026-09-14T09:00"))
        #expect(throws: ClassroomError.invalid("")) { try WeeklyRule(days: [.tuesday], end: .count(3)).expand(from: monday) }
        #expect(throws: ClassroomError.invalid("")) { try WeeklyRule(days: [.monday], end: .until(LocalDate("2026-09-01")!)).expand(from: monday) }
    }

    @Test("dates: day numbers, weekdays and leap years")
    func dates() throws {
        #expect(LocalDate(dayNumber: 0).description == "1970-01-01" && LocalDate(dayNumber: 0).weekday == .thursday)
        let leap = try #require(LocalDate("2028-02-29"))
        #expect(LocalDate(dayNumber: leap.dayNumber) == leap && leap.adding(days: 1).description == "2028-03-01")
        #expect(LocalDate("2027-02-29") == nil)
        #expect(LocalDate("2026-12-01")?.weekday == .tuesday)
    }
}
