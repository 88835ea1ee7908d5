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

    /// The courses `context`'s principal manages.
    func visibleCourses(_ context: ServerContext) async throws -> [Course] {
        let principal = try context.require()
        switch principal.role {
        case .federationAdmin: return try await api.store.courses()
        case .partnerAdmin: return try await api.store.courses(region: principal.scope ?? "-")
        default: return try await api.store.courses(teacher: ClassroomAPI.owner(principal))
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
        let courses = try await visibleCourses(context)
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
        let principal = try context.require()
        var teacher = ClassroomAPI.owner(principal)
        var region = principal.scope
        if principal.role == .federationAdmin || principal.role == .partnerAdmin {
            guard let named = form["teacher"], !named.isEmpty else { throw ClassroomError.invalid("teacher is required when an admin adds a course") }
            teacher = named
            region = principal.role == .partnerAdmin ? principal.scope : (form["region"].flatMap { $0.isEmpty ? nil : $0 })
        }
        let course = try await api.store.addCourse(
            code: form["code"] ?? "", title: form["title"] ?? "", teacher: teacher, region: region, timeZone: form["timeZone"] ?? "", now: Date())
        context.audit.say("course \(course.code) of \(teacher), \(course.timeZone)")
        return WebPage.redirect("/classes/\(course.id)")
    }

    // MARK: A course and the booking form

    struct Fields {
        var title = "Lab"
        var template = ""
        var offering = ""
        var seats = ""
        var spares = "0"
        var start = ""
        var minutes = "90"
        var rrule = ""
        var skipped = ""
        var regions = ""
        var allowSplit = false
    }

    struct Outcome {
        var fits: Bool
        var text: String
        var lines: [String]
        var alternatives: [String]
        /// For the template (it sees stored properties only).
        var hasAlternatives: Bool

        init(fits: Bool, text: String, lines: [String], alternatives: [String]) {
            self.fits = fits
            self.text = text
            self.lines = lines
            self.alternatives = alternatives
            hasAlternatives = !alternatives.isEmpty
        }
    }

    func coursePage(
        _ course: Course, _ context: ServerContext, fields: Fields = Fields(), outcome: Outcome? = nil, message: Message? = nil,
        status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        struct Row {
            var booking: Booking
            var rule: String
            var cancelled: Bool
        }
        struct Group {
            var name: String
            var count: Int
        }
        struct View {
            var course: Course
            var rows: [Row]
            var noBookings: Bool
            var groups: [Group]
            var fields: Fields
            var outcome: Outcome?
            var message: Message?
            var csrf: String
        }
        let bookings = try await api.store.bookings(course: course.id)
        let zone = try Booking.zone(course.timeZone)
        let view = View(
            course: course,
            rows: bookings.map { Row(booking: $0, rule: $0.rule?.rrule(zone: zone) ?? "one session", cancelled: $0.status == .cancelled) },
            noBookings: bookings.isEmpty,
            groups: try await api.store.groups(course: course.id).sorted { $0.key < $1.key }.map { Group(name: $0.key, count: $0.value.count) },
            fields: fields, outcome: outcome, message: message, csrf: context.session?.csrf ?? "")
        return WebPage.render(Self.courseTemplate, view, title: course.code, context: context, status: status)
    }

    /// The form's fields as a booking request.
    static func request(_ form: [String: String]) throws -> (BookingRequest, Fields) {
        var fields = Fields()
        fields.title = form["title"] ?? "Lab"
        fields.template = form["template"] ?? ""
        fields.offering = form["offering"] ?? ""
        fields.seats = form["seats"] ?? ""
        fields.spares = form["spares"] ?? "0"
        fields.start = form["start"] ?? ""
        fields.minutes = form["minutes"] ?? ""
        fields.rrule = form["rrule"] ?? ""
        fields.skipped = form["skipped"] ?? ""
        fields.regions = form["regions"] ?? ""
        fields.allowSplit = form["allowSplit"] == "on"
        func list(_ text: String) -> [String] { text.split { $0 == "," || $0 == " " }.map(String.init) }
        guard let seats = Int(fields.seats) else { throw ClassroomError.invalid("seats must be a number") }
        guard let start = LocalDateTime(String(fields.start.prefix(16))) else {
            throw ClassroomError.invalid("the start must be a local date and time like 2027-03-02T09:00")
        }
        guard let minutes = Int(fields.minutes) else { throw ClassroomError.invalid("the length must be a number of minutes") }
        let skipped = try list(fields.skipped).map { text in
            guard let date = LocalDate(text) else { throw ClassroomError.invalid("skipped date \(text) is not a date like 2027-03-16") }
            return date
        }
        let regions = try list(fields.regions).map { text in
            guard let id = Int(text) else { throw ClassroomError.invalid("region \(text) is not a region id") }
            return id
        }
        let request = BookingRequest(
            title: fields.title, template: fields.template, offering: fields.offering, seats: seats, spares: Int(fields.spares) ?? 0, start: start,
            durationMinutes: minutes, rrule: fields.rrule, skipped: skipped, regions: regions, allowSplit: fields.allowSplit)
        return (request, fields)
    }

    func book(_ context: ServerContext) async throws -> Response {
        let course = try await api.course(context)
        let write = context.form["action"] == "book"
        let parsed: (BookingRequest, Fields)
        do {
            parsed = try Self.request(context.form)
        } catch let error as ClassroomError {
            return try await coursePage(
                course, context, fields: (try? Self.request(context.form).1) ?? Fields(), message: .init(text: error.description, kind: "error"),
                status: .badRequest)
        }
        let (asked, fields) = parsed
        let booking: Booking
        do {
            booking = try asked.booking(id: ClassroomStore.newBookingID(), course: course, now: Date())
        } catch let error as ClassroomError {
            return try await coursePage(course, context, fields: fields, message: .init(text: error.description, kind: "error"), status: .badRequest)
        }
        let regions = try await api.clouds.capacities(template: booking.template, offering: booking.offering)
        switch try await api.store.book(booking, regions: regions, planning: api.planning, write: write) {
        case .accepted(let booking, let placements):
            if write {
                context.audit.say("booked \(booking.id): \(booking.totalSeats) seats of \(booking.template)")
                return WebPage.redirect("/bookings/\(booking.id)")
            }
            let names = Dictionary(regions.map { ($0.regionID, $0.name) }, uniquingKeysWith: { a, _ in a })
            let used = Set(placements.map(\.regionID)).sorted().map { names[$0] ?? String($0) }
            return try await coursePage(
                course, context, fields: fields,
                outcome: Outcome(
                    fits: true, text: "It fits: \(Set(placements.map(\.session)).count) sessions in \(used.joined(separator: ", ")).", lines: [],
                    alternatives: []))
        case .refused(let refusal):
            if write { context.audit.say("refused: \(refusal.shortfalls.count) sessions do not fit") }
            return try await coursePage(course, context, fields: fields, outcome: Self.outcome(refusal), status: write ? .conflict : .ok)
        }
    }

    static func outcome(_ refusal: CapacityPlanner.Refusal) -> Outcome {
        var lines = refusal.shortfalls.prefix(8).map { shortfall in
            "Session \(shortfall.session + 1), \(shortfall.start): \(shortfall.missingSeats) seats short (\(shortfall.resource)"
                + (shortfall.regionID.map { " in region \($0)" } ?? "") + ")"
        }
        if refusal.shortfalls.count > 8 { lines.append("… and \(refusal.shortfalls.count - 8) more sessions") }
        return Outcome(
            fits: false, text: "It does not fit: \(refusal.shortfalls.count) sessions lack room.", lines: lines,
            alternatives: refusal.alternatives.map(\.summary))
    }

    // MARK: A booking

    func bookingPage(_ booking: Booking, _ course: Course, _ context: ServerContext, message: Message? = nil) async throws -> Response {
        struct Count {
            var state: String
            var count: Int
            var kind: String
        }
        struct Row {
            var number: Int
            var start: String
            /// The local date (what skipping takes).
            var date: String
            var state: String
            var counts: [Count]
            var regions: String
            var open: Bool
        }
        struct View {
            var booking: Booking
            var course: Course
            var rule: String
            var rows: [Row]
            var open: [Row]
            var cancellable: Bool
            var message: Message?
            var csrf: String
        }
        let view = try await api.view(booking)
        let names = Dictionary(
            try await api.clouds.capacities(template: "", offering: "").map { ($0.regionID, $0.name) }, uniquingKeysWith: { a, _ in a })
        let rows = view.sessions.map { session in
            Row(
                number: session.session + 1, start: session.start.description.replacingOccurrences(of: "T", with: " "),
                date: session.start.date.description, state: session.state.rawValue,
                counts: SeatState.allCases.compactMap { state in
                    session.seats[state.rawValue].map {
                        Count(state: state.rawValue, count: $0, kind: state == .ready ? "ok" : state == .failed ? "crit" : "")
                    }
                },
                regions: session.regions.map { names[$0] ?? String($0) }.joined(separator: ", "), open: session.state == .planned)
        }
        let page = View(
            booking: booking, course: course, rule: booking.rule?.rrule(zone: try Booking.zone(booking.timeZone)) ?? "one session", rows: rows,
            open: rows.filter(\.open), cancellable: booking.status == .accepted, message: message, csrf: context.session?.csrf ?? "")
        return WebPage.render(Self.bookingTemplate, page, title: "\(course.code) \(booking.title)", context: context)
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

    static let courseTemplate = WebPage.compile(
        """
        <section class="panel">
        <h2>{{course.code}} {{course.title}}</h2>
        <p class="sub">Teacher {{course.teacher}} · {{course.timeZone}}{{#groups}} · group {{name}}: {{count}} students{{/groups}} · <a href="/classes">the week</a></p>
        {{#message}}<p class="message {{kind}}">{{text}}</p>{{/message}}
        <div class="table"><table><tr><th>Booking</th><th>Template</th><th>Seats</th><th class="optional">First session</th><th class="optional">Repeats</th><th>Status</th></tr>
        {{#rows}}<tr><td><a href="/bookings/{{booking.id}}">{{booking.title}}</a></td><td class="wrap">{{booking.template}}</td><td>{{booking.seats}}+{{booking.spares}}</td><td class="optional">{{booking.start}}</td><td class="optional wrap">{{rule}}</td><td><span class="badge{{^cancelled}} ok{{/cancelled}}">{{booking.status}}</span></td></tr>{{/rows}}
        </table></div>
        {{#noBookings}}<p class="sub">No bookings yet.</p>{{/noBookings}}
        <form method="post" action="/classes/{{course.id}}/calendar"><input type="hidden" name="csrf" value="{{csrf}}"><button class="small quiet" type="submit">New calendar feed URL</button></form>
        </section>
        <section class="panel">
        <h2>Book a lab</h2>
        <form id="booking" method="post" action="/classes/{{course.id}}/book" data-check="/api/v1/courses/{{course.id}}/bookings/check">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <div class="fields">
        <div><label for="title">Title</label><input id="title" name="title" value="{{fields.title}}" maxlength="200"></div>
        <div><label for="template">Template</label><input id="template" name="template" value="{{fields.template}}" required placeholder="ubuntu-eda"></div>
        <div><label for="offering">Service offering</label><input id="offering" name="offering" value="{{fields.offering}}" required placeholder="Medium Instance"></div>
        <div><label for="seats">Seats (students)</label><input id="seats" name="seats" type="number" min="1" max="500" value="{{fields.seats}}" required></div>
        <div><label for="spares">Spare seats</label><input id="spares" name="spares" type="number" min="0" max="50" value="{{fields.spares}}"></div>
        <div><label for="start">First session starts ({{course.timeZone}})</label><input id="start" name="start" type="datetime-local" value="{{fields.start}}" required></div>
        <div><label for="minutes">Length (minutes)</label><input id="minutes" name="minutes" type="number" min="15" max="720" value="{{fields.minutes}}" required></div>
        <div><label for="rrule">Repeats (RRULE)</label><input id="rrule" name="rrule" value="{{fields.rrule}}" placeholder="FREQ=WEEKLY;BYDAY=TU;COUNT=15"></div>
        <div><label for="skipped">Skipped dates</label><input id="skipped" name="skipped" value="{{fields.skipped}}" placeholder="2027-03-16, 2027-04-06"></div>
        <div><label for="regions">Regions (ids, preferred first; empty: anywhere)</label><input id="regions" name="regions" value="{{fields.regions}}"></div>
        <div><label for="allowSplit"><input id="allowSplit" name="allowSplit" type="checkbox" style="width:auto"{{#fields.allowSplit}} checked{{/fields.allowSplit}}> A session may be split across regions</label></div>
        </div>
        <div id="fit" aria-live="polite">{{#outcome}}<div class="message {{#fits}}ok{{/fits}}{{^fits}}error{{/fits}}"><strong>{{text}}</strong>{{#lines}}<br>{{.}}{{/lines}}{{#hasAlternatives}}<br>Would fit instead:{{/hasAlternatives}}{{#alternatives}}<br>• {{.}}{{/alternatives}}</div>{{/outcome}}</div>
        <button type="submit" name="action" value="check" class="quiet">Check</button>
        <button type="submit" name="action" value="book">Book</button>
        </form>
        </section>
        <script src="/assets/classroom.js"></script>
        """, "course")

    static let bookingTemplate = WebPage.compile(
        """
        <section class="panel">
        <h2>{{course.code}} · {{booking.title}}</h2>
        {{#message}}<p class="message {{kind}}">{{text}}</p>{{/message}}
        <dl>
        <dt>Template</dt><dd>{{booking.template}} on {{booking.offering}}</dd>
        <dt>Seats</dt><dd>{{booking.seats}} students + {{booking.spares}} spares</dd>
        <dt>Sessions</dt><dd>from {{booking.start}} ({{booking.timeZone}}), {{booking.durationMinutes}} minutes, {{rule}}</dd>
        <dt>Status</dt><dd>{{booking.status}} (calendar sequence {{booking.sequence}})</dd>
        </dl>
        <p class="sub"><a href="/classes/{{course.id}}">{{course.code}}</a> · <a href="/bookings/{{booking.id}}/seats">seats and students</a> · <a href="/classes">the week</a></p>
        </section>
        <section class="panel">
        <h2>Sessions and seats</h2>
        <div id="sessions" class="table" data-refresh="5"><table><tr><th>#</th><th>Starts</th><th>State</th><th>Seats</th><th class="optional">Regions</th></tr>
        {{#rows}}<tr><td>{{number}}</td><td>{{start}}</td><td>{{state}}</td><td>{{#counts}}<span class="badge {{kind}}">{{count}} {{state}}</span> {{/counts}}</td><td class="optional">{{regions}}</td></tr>{{/rows}}
        </table></div>
        </section>
        {{#cancellable}}<section class="panel">
        <h2>Change</h2>
        <form method="post" action="/bookings/{{booking.id}}/skip"><input type="hidden" name="csrf" value="{{csrf}}">
        <label for="date">Skip one session</label><select id="date" name="date">{{#open}}<option value="{{date}}">{{number}} · {{start}}</option>{{/open}}</select>
        <button type="submit" class="quiet">Skip it</button></form>
        <form method="post" action="/bookings/{{booking.id}}/cancel"><input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit" class="danger">Cancel the booking</button></form>
        </section>{{/cancellable}}
        <script src="/assets/classroom.js"></script>
        """, "booking")

    /// The pages' one script (same origin, so the CSP allows it): checks the booking form as the teacher types,
    /// through the JSON API with the session's CSRF token; refreshes a booking's seat states every few seconds.
    static let script = """
        "use strict";
        (function () {
          var form = document.getElementById("booking");
          if (form) {
            var timer = null;
            var box = document.getElementById("fit");
            var csrf = form.querySelector("input[name=csrf]").value;
            function field(name) { var e = form.elements[name]; return e ? e.value.trim() : ""; }
            function list(text) { return text.split(/[\\s,]+/).filter(function (s) { return s.length > 0; }); }
            function show(kind, title, lines) {
              box.textContent = "";
              var div = document.createElement("div");
              div.className = "message " + kind;
              var strong = document.createElement("strong");
              strong.textContent = title;
              div.appendChild(strong);
              lines.forEach(function (line) { div.appendChild(document.createElement("br")); div.appendChild(document.createTextNode(line)); });
              box.appendChild(div);
            }
            function check() {
              if (!field("template") || !field("offering") || !field("seats") || !field("start") || !field("minutes")) { return; }
              var body = {
                title: field("title") || "Lab", template: field("template"), offering: field("offering"),
                seats: parseInt(field("seats"), 10), spares: parseInt(field("spares") || "0", 10),
                start: field("start").slice(0, 16), durationMinutes: parseInt(field("minutes"), 10),
                rrule: field("rrule") || null, skipped: list(field("skipped")),
                regions: list(field("regions")).map(function (s) { return parseInt(s, 10); }),
                allowSplit: form.elements.allowSplit.checked
              };
              fetch(form.dataset.check, {
                method: "POST", credentials: "same-origin",
                headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body)
              }).then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); }).then(function (answer) {
                var status = answer[0], json = answer[1];
                if (status === 200) {
                  var sessions = {}; json.placements.forEach(function (p) { sessions[p.session] = true; });
                  show("ok", "It fits: " + Object.keys(sessions).length + " sessions.", []);
                } else if (status === 409) {
                  var lines = json.refusal.shortfalls.slice(0, 8).map(function (s) {
                    return "Session " + (s.session + 1) + ", " + s.start + ": " + s.missingSeats + " seats short (" + s.resource +
                      (s.regionID == null ? "" : " in region " + s.regionID) + ")";
                  });
                  if (json.refusal.alternatives.length > 0) { lines.push("Would fit instead:"); }
                  json.refusal.alternatives.forEach(function (a) { lines.push("• " + a.summary); });
                  show("error", "It does not fit: " + json.refusal.shortfalls.length + " sessions lack room.", lines);
                } else {
                  show("error", (json.error && json.error.message) || ("The check failed (" + status + ")."), []);
                }
              }).catch(function () {});
            }
            form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 400); });
          }
          var live = document.querySelector("[data-refresh]");
          if (live) {
            setInterval(function () {
              fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (text) {
                if (!text) { return; }
                var fresh = new DOMParser().parseFromString(text, "text/html").getElementById(live.id);
                if (fresh) { live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes)); }
              }).catch(function () {});
            }, 1000 * parseInt(live.dataset.refresh, 10));
          }
        })();
        """
}
