import Access
import Classroom
import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A booking's page: every session's seat states (refreshed by the script), with its skip and cancel forms.
extension ClassroomPages {
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
}
