import Access
import Classroom
import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The teachers' pages: the week of the federation's classes with each region's free capacity, a course with its
/// bookings and the booking form (checked against capacity as the teacher types, with the alternatives when it
/// does not fit), and a booking with every session's seat states, refreshed while the page is open. The same
/// rules as the JSON API decide who sees which course (``ClassroomAPI/authorize(_:_:)``).
struct ClassroomPages: Sendable {
    let api: ClassroomAPI

    struct Message {
        var text: String
        var kind: String
    }

    func register(on router: GuardedRouter) {
        let pages = self
        router.get("/classes") { request, context in try await pages.weekPage(request, context) }
        router.post("/classes") { _, context in try await pages.addCourse(context) }
        router.get("/classes/{course}") { _, context in
            try await pages.coursePage(try await pages.api.course(context), context)
        }
        router.post("/classes/{course}/book") { _, context in try await pages.book(context) }
        router.post("/classes/{course}/calendar") { request, context in
            let course = try await pages.api.course(context)
            let token = try await pages.api.store.newFeedToken(kind: "course", subject: course.id)
            context.audit.say("new calendar feed URL for \(course.code) (the old one stops working)")
            let url = pages.api.publicURL(request) + "/calendar/" + token
            return try await pages.coursePage(
                course, context, message: .init(text: "The course's calendar is at \(url) — the previous address no longer works.", kind: "ok"))
        }
        router.get("/bookings/{booking}") { _, context in
            let (booking, course) = try await pages.api.booking(context)
            return try await pages.bookingPage(booking, course, context)
        }
        router.post("/bookings/{booking}/cancel") { _, context in
            let (booking, course) = try await pages.api.booking(context)
            let cancelled = try await pages.api.store.cancel(booking.id, now: Date())
            context.audit.change("status", from: booking.status.rawValue, to: cancelled.status.rawValue)
            return try await pages.bookingPage(cancelled, course, context, message: .init(text: "The booking is cancelled.", kind: "ok"))
        }
        router.post("/bookings/{booking}/skip") { _, context in
            let (booking, course) = try await pages.api.booking(context)
            guard let date = LocalDate(context.form["date"] ?? "") else { throw ClassroomError.invalid("choose the date of the session to skip") }
            let changed = try await pages.api.store.skip(booking.id, date: date, now: Date())
            context.audit.say("skipped \(date), sequence \(changed.sequence)")
            return try await pages.bookingPage(changed, course, context, message: .init(text: "The session of \(date) is skipped.", kind: "ok"))
        }
        router.get("/assets/classroom.js") { _, _ in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/javascript; charset=utf-8", .contentLength: String(Self.script.utf8.count),
                    .cacheControl: "public, max-age=300",
                ],
                body: .init(byteBuffer: ByteBuffer(string: Self.script)))
        }
    }

    // MARK: The week

    struct WeekItem {
        var time: String
        var code: String
        var title: String
        var seats: Int
        var href: String
    }

    struct WeekDay {
        var label: String
        var items: [WeekItem]
        var empty: Bool
    }

    struct RoomCell {
        var text: String
        var low: Bool
    }

    struct RoomRow {
        var name: String
        var cells: [RoomCell]
    }

    func weekPage(_ request: Request, _ context: ServerContext) async throws -> Response {
        let today = LocalDateTime.of(Date(), in: .gmt).date
        let asked = request.uri.queryParameters.get("week").flatMap { LocalDate(String($0)) } ?? today
        let monday = asked.adding(days: -Self.weekdayIndex(asked))
        let dates = (0..<7).map { monday.adding(days: $0) }
        var days = dates.map { WeekDay(label: Self.dayLabel($0), items: [], empty: true) }
        let courses = try await api.courses(for: try context.require())
        for course in courses {
            for booking in try await api.store.bookings(course: course.id) where booking.status == .accepted {
                for session in try booking.sessions() where !session.skipped {
                    guard let day = dates.firstIndex(of: session.local.date) else { continue }
                    let end = LocalDateTime.of(session.end, in: try Booking.zone(booking.timeZone))
                    days[day].items.append(
                        WeekItem(
                            time: "\(Self.clock(session.local))–\(Self.clock(end))", code: course.code, title: booking.title,
                            seats: booking.totalSeats, href: "/bookings/\(booking.id)"))
                    days[day].empty = false
                }
            }
        }
        for index in days.indices { days[index].items.sort { $0.time < $1.time } }

        // Free capacity per region and UTC day, at each day's busiest moment.
        let utc = TimeZone.gmt
        let from = Self.start(monday, in: utc)
        let to = Self.start(monday.adding(days: 7), in: utc)
        let regions = try await api.clouds.capacities(template: "", offering: "")
        let margin = api.planning.widestMargin
        let index = ReservationIndex(
            try await api.store.reservations(from: from.addingTimeInterval(-margin), to: to.addingTimeInterval(margin)),
            lead: api.planning.leadSeconds, grace: api.planning.graceSeconds)
        let planner = CapacityPlanner(regions: regions, reservations: index, configuration: api.planning)
        let rows = regions.sorted { $0.name < $1.name }.map { region in
            RoomRow(
                name: region.name,
                cells: dates.map { date in
                    let room = planner.room(region: region, from: Self.start(date, in: utc), to: Self.start(date.adding(days: 1), in: utc))
                    let low = Double(room.cpuMHz) < 0.1 * Double(region.cpuMHz) || Double(room.memoryBytes) < 0.1 * Double(region.memoryBytes)
                    return RoomCell(
                        text: String(format: "%.0f GHz · %@", Double(room.cpuMHz) / 1000, ByteCount.format(room.memoryBytes) as NSString), low: low)
                })
        }
        struct View {
            var weekOf: String
            var previous: String
            var next: String
            var days: [WeekDay]
            var headers: [String]
            var rows: [RoomRow]
            var noRegions: Bool
            var courses: [Course]
            var noCourses: Bool
            var admin: Bool
            var csrf: String
        }
        let principal = try context.require()
        let view = View(
            weekOf: monday.description, previous: monday.adding(days: -7).description, next: monday.adding(days: 7).description, days: days,
            headers: dates.map(Self.dayLabel), rows: rows, noRegions: rows.isEmpty, courses: courses, noCourses: courses.isEmpty,
            admin: principal.role == .federationAdmin || principal.role == .partnerAdmin, csrf: context.session?.csrf ?? "")
        return WebPage.render(Self.weekTemplate, view, title: "Classes", context: context)
    }

    func addCourse(_ context: ServerContext) async throws -> Response {
        let form = context.form
        let new = ClassroomAPI.NewCourse(
            code: form["code"] ?? "", title: form["title"] ?? "", timeZone: form["timeZone"] ?? "", teacher: form["teacher"],
            region: form["region"])
        return WebPage.redirect("/classes/\(try await api.addCourse(new, context).id)")
    }

    // MARK: Helpers

    /// Monday 0 … Sunday 6.
    static func weekdayIndex(_ date: LocalDate) -> Int { date.weekday.index }

    /// The instant `date` begins in `zone`.
    static func start(_ date: LocalDate, in zone: TimeZone) -> Date {
        LocalDateTime(year: date.year, month: date.month, day: date.day).instant(in: zone)
    }

    static func dayLabel(_ date: LocalDate) -> String {
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][weekdayIndex(date)] + " " + String(date.description.suffix(5))
    }

    static func clock(_ time: LocalDateTime) -> String { String(format: "%02d:%02d", time.hour, time.minute) }

    static let weekTemplate = WebPage.compile(
        """
        <section class="panel">
        <h2>Classes in the week of {{weekOf}}</h2>
        <p class="sub"><a href="/classes?week={{previous}}">← previous week</a> · <a href="/classes?week={{next}}">next week →</a> · times are each course's local time</p>
        <div class="week">
        {{#days}}<div class="day"><h3>{{label}}</h3>{{#items}}<a class="slot" href="{{href}}"><strong>{{time}}</strong> {{code}} {{title}} <span class="sub">{{seats}} seats</span></a>{{/items}}{{#empty}}<p class="sub">—</p>{{/empty}}</div>{{/days}}
        </div>
        </section>
        <section class="panel">
        <h2>Free for bookings, per region (busiest moment of each UTC day)</h2>
        {{#noRegions}}<p class="sub">No region has reported its capacity yet.</p>{{/noRegions}}
        {{^noRegions}}<div class="table"><table><tr><th>Region</th>{{#headers}}<th>{{.}}</th>{{/headers}}</tr>
        {{#rows}}<tr><td>{{name}}</td>{{#cells}}<td{{#low}} class="low"{{/low}}>{{text}}</td>{{/cells}}</tr>{{/rows}}
        </table></div>{{/noRegions}}
        </section>
        <section class="panel">
        <h2>Courses</h2>
        {{#noCourses}}<p class="sub">No courses yet.</p>{{/noCourses}}
        <ul>{{#courses}}<li><a href="/classes/{{id}}">{{code}}</a> {{title}} <span class="sub">{{teacher}} · {{timeZone}}</span></li>{{/courses}}</ul>
        <details><summary>Add a course</summary>
        <form method="post" action="/classes">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <div class="fields">
        <div><label for="code">Code</label><input id="code" name="code" required maxlength="32" placeholder="EE-201"></div>
        <div><label for="ctitle">Title</label><input id="ctitle" name="title" required maxlength="200"></div>
        <div><label for="zone">Time zone</label><input id="zone" name="timeZone" required placeholder="Europe/Budapest"></div>
        {{#admin}}<div><label for="teacher">Teacher's username</label><input id="teacher" name="teacher" required></div>{{/admin}}
        </div>
        <button type="submit">Add the course</button>
        </form></details>
        </section>
        <style>
        .week { display: grid; grid-template-columns: repeat(7, minmax(0, 1fr)); gap: 8px; }
        .day h3 { font-size: 13px; color: var(--muted); margin: 0 0 6px; }
        .slot { display: block; background: #ebf4ff; border-left: 3px solid #2b6cb0; border-radius: 4px; padding: 4px 6px; margin: 0 0 6px; font-size: 13px; color: #1a202c; text-decoration: none; overflow-wrap: anywhere; }
        td.low { color: var(--crit); font-weight: 600; }
        @media (max-width: 700px) { .week { grid-template-columns: 1fr; } }
        </style>
        """, "classes")
}
