import Access
import Classroom
import Core
import Foundation
import Hummingbird

/// The student page — "my sessions": when, which course, the status, and for a ready seat how to connect (the
/// `ssh` line, a `.rdp` file, the console and Guacamole buttons) — and the teacher's seat list of a booking with a
/// reset button per seat. The rules are the JSON API's (``SeatsAPI``).
struct StudentPages: Sendable {
    let seats: SeatsAPI

    func register(on router: GuardedRouter) {
        let pages = self
        router.get("/my") { _, context in try await pages.myPage(context) }
        router.get("/my/seats/{booking}/{session}/{seat}/rdp") { _, context in
            let seat = try await pages.seats.mySeat(context)
            guard let connection = pages.seats.connection(seat), connection.service == .rdp else {
                throw ClassroomError.conflict("The seat has no Remote Desktop port open: it is not ready, or not a Windows seat.")
            }
            return SeatsAPI.rdpResponse(connection, name: seat.vmName)
        }
        router.post("/my/seats/{booking}/{session}/{seat}/console") { _, context in
            let seat = try await pages.seats.mySeat(context)
            let url = try await pages.seats.console(seat)
            context.audit.say("console of seat \(seat.path)")
            return try await pages.myPage(context, link: .init(text: "Your console is ready: it opens once.", url: url))
        }
        router.post("/my/seats/{booking}/{session}/{seat}/guacamole") { _, context in
            let seat = try await pages.seats.mySeat(context)
            let url = try await pages.seats.guacamole(seat, student: ClassroomAPI.owner(try context.require()))
            context.audit.say("Guacamole login for seat \(seat.path)")
            return try await pages.myPage(context, link: .init(text: "Your Guacamole login is ready: it works once, for five minutes.", url: url))
        }
        router.post("/my/seats/{booking}/{session}/{seat}/lock") { _, context in
            let seat = try await pages.seats.mySeat(context)
            let access = try await pages.seats.lock(seat, from: context.source)
            context.audit.say("seat \(seat.path) locked to \(context.source)")
            return try await pages.myPage(
                context, notice: "Your seat now takes connections from \(access.allowedNetworks.joined(separator: ", ")) only (this computer).")
        }
        router.get("/bookings/{booking}/seats") { _, context in
            let (booking, course) = try await pages.seats.api.booking(context)
            return try await pages.seatsPage(booking, course, context)
        }
        router.post("/bookings/{booking}/seats/{session}/{seat}/reset") { _, context in
            let (booking, course) = try await pages.seats.api.booking(context)
            let session = try context.parameters.require("session", as: Int.self)
            let seat = try context.parameters.require("seat", as: Int.self)
            try await pages.seats.api.store.requestReset(booking: booking.id, session: session, seat: seat, now: Date())
            context.audit.say("reset of seat \(seat + 1), session \(session + 1)")
            return try await pages.seatsPage(
                booking, course, context, message: "Seat \(seat + 1) of session \(session + 1) is being deployed again; it is ready in a few minutes."
            )
        }
    }

    struct Link {
        var text: String
        var url: String
    }

    func myPage(_ context: ServerContext, link: Link? = nil, notice: String? = nil) async throws -> Response {
        struct Row {
            var session: SeatsAPI.MySession
            var when: String
            var ready: Bool
            var kind: String
            var ssh: String?
            var rdp: Bool
            var path: String?
            var password: String?
            var address: String?
            /// The seat's number as people count (1 is the first).
            var seatNumber: Int?
        }
        struct View {
            var rows: [Row]
            var empty: Bool
            var link: Link?
            var notice: String?
            var guacamole: Bool
            var csrf: String
        }
        let username = ClassroomAPI.owner(try context.require())
        let sessions = try await seats.mySessions(username)
        let rows = sessions.map { session in
            Row(
                session: session, when: session.start.prefix(16).replacingOccurrences(of: "T", with: " ") + " UTC", ready: session.status == "ready",
                kind: session.status == "ready" ? "ok" : session.status == "failed" ? "crit" : "", ssh: session.ssh,
                rdp: session.connection?.service == .rdp, path: session.path, password: session.connection?.password,
                address: session.connection.map { "\($0.address):\($0.port)" }, seatNumber: session.seat.map { $0 + 1 })
        }
        let view = View(
            rows: rows, empty: rows.isEmpty, link: link, notice: notice, guacamole: try await seats.api.store.guacamole() != nil,
            csrf: context.session?.csrf ?? "")
        return WebPage.render(Self.myTemplate, view, title: "My sessions", context: context)
    }

    func seatsPage(_ booking: Booking, _ course: Course, _ context: ServerContext, message: String? = nil) async throws -> Response {
        struct Row {
            var seat: SeatsAPI.CourseSeat
            var number: Int
            var sessionNumber: Int
            var kind: String
            var resettable: Bool
            var password: String?
        }
        struct View {
            var booking: Booking
            var course: Course
            var rows: [Row]
            var empty: Bool
            var message: String?
            var networks: String
            var csrf: String
        }
        let list = try await seats.courseSeats(booking, course, try context.require())
        let rows = list.map { seat in
            Row(
                seat: seat, number: seat.seat + 1, sessionNumber: seat.session + 1,
                kind: seat.state == "ready" ? "ok" : seat.state == "failed" ? "crit" : "", resettable: ["ready", "failed"].contains(seat.state),
                password: (seat.connection?.password).flatMap { $0.isEmpty ? nil : $0 })
        }
        let view = View(
            booking: booking, course: course, rows: rows, empty: rows.isEmpty, message: message,
            networks: course.allowedNetworks.isEmpty ? "none (console only)" : course.allowedNetworks.joined(separator: ", "),
            csrf: context.session?.csrf ?? "")
        return WebPage.render(Self.seatsTemplate, view, title: "\(course.code) seats", context: context)
    }

    static let myTemplate = WebPage.compile(
        """
        <section class="panel">
        <h2>My sessions</h2>
        {{#notice}}<p class="message ok">{{.}}</p>{{/notice}}
        {{#link}}<p class="message ok">{{text}} <a href="{{url}}" target="_blank" rel="noopener noreferrer">Open it</a></p>{{/link}}
        {{#empty}}<p class="sub">No class sessions in the next two weeks. When your teacher's class is booked, it shows here.</p>{{/empty}}
        {{#rows}}<article class="seat">
        <h3>{{session.course}} · {{session.title}} <span class="badge {{kind}}">{{session.status}}</span></h3>
        <p class="sub">{{when}} · {{session.courseTitle}}{{#seatNumber}} · seat {{.}}{{/seatNumber}}</p>
        {{#ready}}
        {{#address}}<dl><dt>Address</dt><dd><code>{{address}}</code></dd><dt>User</dt><dd><code>{{session.connection.username}}</code></dd>
        <dt>Password</dt><dd><details><summary>Show</summary><code>{{password}}</code></details></dd></dl>{{/address}}
        {{#ssh}}<p>Connect with <code class="wrap">{{ssh}}</code></p>{{/ssh}}
        {{#path}}<div class="actions">
        {{#rdp}}<a class="button" href="/my/seats/{{path}}/rdp">Download the .rdp file</a>{{/rdp}}
        <form method="post" action="/my/seats/{{path}}/console"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="quiet">Console in the browser</button></form>
        {{#address}}<form method="post" action="/my/seats/{{path}}/lock"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="quiet">Only from this computer</button></form>{{/address}}
        {{#guacamole}}<form method="post" action="/my/seats/{{path}}/guacamole"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Connect in browser (Guacamole)</button></form>{{/guacamole}}
        </div>{{/path}}
        {{/ready}}
        </article>{{/rows}}
        </section>
        """, "my")

    static let seatsTemplate = WebPage.compile(
        """
        <section class="panel">
        <h2>{{course.code}} · {{booking.title}} — seats</h2>
        {{#message}}<p class="message ok">{{.}}</p>{{/message}}
        <p class="sub">Students connect from: {{networks}} · <a href="/bookings/{{booking.id}}">the booking</a></p>
        {{#empty}}<p class="sub">No seats yet: they are made when a session's provisioning begins.</p>{{/empty}}
        <div class="table"><table><tr><th>Session</th><th>Seat</th><th>Student</th><th>State</th><th class="optional">Connect</th><th></th></tr>
        {{#rows}}<tr><td>{{sessionNumber}}</td><td>{{number}}</td><td>{{seat.student}}</td><td><span class="badge {{kind}}">{{seat.state}}</span></td>
        <td class="optional wrap">{{#seat.ssh}}<code>{{.}}</code>{{/seat.ssh}}{{#password}} <details><summary>password</summary><code>{{.}}</code></details>{{/password}}</td>
        <td>{{#resettable}}<form method="post" action="/bookings/{{booking.id}}/seats/{{seat.session}}/{{seat.seat}}/reset"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="small quiet">Reset</button></form>{{/resettable}}</td></tr>{{/rows}}
        </table></div>
        </section>
        """, "seats")
}
