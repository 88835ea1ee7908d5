import Access
import Classroom
import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A course's page: its bookings, its calendar feed and the booking form, checked or booked on the server when
/// the script is off.
extension ClassroomPages {
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
        let placed = try await api.place(booking, write: write, context)
        switch placed.outcome {
        case .accepted(let booking, let placements):
            if write { return WebPage.redirect("/bookings/\(booking.id)") }
            let names = Dictionary(placed.regions.map { ($0.regionID, $0.name) }, uniquingKeysWith: { a, _ in a })
            let used = Set(placements.map(\.regionID)).sorted().map { names[$0] ?? String($0) }
            return try await coursePage(
                course, context, fields: fields,
                outcome: Outcome(
                    fits: true, text: "It fits: \(Set(placements.map(\.session)).count) sessions in \(used.joined(separator: ", ")).", lines: [],
                    alternatives: []))
        case .refused(let refusal):
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
}
