import Access
import Classroom
import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The classroom scheduler over HTTP: courses, their students, bookings checked against the federation's
/// capacity, sessions and seats, and the secret iCalendar feed URLs. Teachers see and change their own courses,
/// partner admins their region's, federation admins every course.
struct ClassroomAPI: Sendable {
    let store: ClassroomStore
    let clouds: any ClassroomClouds
    let planning: CapacityPlanner.Configuration
    let publicURL: @Sendable (Request) -> String

    typealias CourseView = ClassroomWire.CourseView
    typealias NewCourse = ClassroomWire.NewCourse
    typealias BookingView = ClassroomWire.BookingView
    typealias SessionView = ClassroomWire.SessionView
    typealias Accepted = ClassroomWire.Accepted
    typealias Refused = ClassroomWire.Refused
    typealias SkipRequest = ClassroomWire.SkipRequest
    typealias Feed = ClassroomWire.Feed

    /// The username a principal stands for (a person's session), or its token id.
    static func owner(_ principal: Principal) -> String { principal.id.hasPrefix("user:") ? String(principal.id.dropFirst(5)) : principal.id }

    /// Refuses a principal that may not manage `course`.
    static func authorize(_ course: Course, _ principal: Principal) throws {
        let allowed =
            switch principal.role {
            case .federationAdmin: true
            case .partnerAdmin: course.region != nil && course.region == principal.scope
            case .teacher: course.teacher == owner(principal)
            default: false
            }
        guard allowed else {
            throw ClassroomError.forbidden(
                "Course \(course.code) is not yours: its teacher, its region's partner admins and federation admins manage it.")
        }
    }

    func course(_ context: ServerContext) async throws -> Course {
        let course = try await store.course(try context.parameters.require("course"))
        try Self.authorize(course, try context.require())
        return course
    }

    func booking(_ context: ServerContext) async throws -> (Booking, Course) {
        let booking = try await store.booking(try context.parameters.require("booking"))
        let course = try await store.course(booking.courseID)
        try Self.authorize(course, try context.require())
        return (booking, course)
    }

    /// The courses `principal` manages: every course for federation admins, their region's for partner admins,
    /// their own for teachers.
    func courses(for principal: Principal) async throws -> [Course] {
        switch principal.role {
        case .federationAdmin: try await store.courses()
        case .partnerAdmin: try await store.courses(region: principal.scope ?? "-")
        default: try await store.courses(teacher: Self.owner(principal))
        }
    }

    /// Adds a course for the caller: a teacher's own, or (for an admin) the named teacher's, in the partner admin's
    /// region or the region a federation admin names.
    func addCourse(_ new: NewCourse, _ context: ServerContext) async throws -> Course {
        let principal = try context.require()
        var teacher = Self.owner(principal)
        var region = principal.scope
        if principal.role == .federationAdmin || principal.role == .partnerAdmin {
            guard let named = new.teacher, !named.isEmpty else { throw ClassroomError.invalid("teacher is required when an admin adds a course") }
            teacher = named
            region = principal.role == .partnerAdmin ? principal.scope : new.region.flatMap { $0.isEmpty ? nil : $0 }
        }
        let course = try await store.addCourse(
            code: new.code, title: new.title, teacher: teacher, region: region, timeZone: new.timeZone, now: Date())
        context.audit.say("course \(course.code) of \(teacher), \(course.timeZone)")
        return course
    }

    /// What checking or booking `booking` came to, with the regions it was planned against.
    struct Placed {
        var outcome: BookingOutcome
        var regions: [RegionCapacity]
    }

    /// Checks `booking` against the federation's capacity and, with `write`, books it; a written booking or
    /// refusal goes into the audit log.
    func place(_ booking: Booking, write: Bool, _ context: ServerContext) async throws -> Placed {
        let regions = try await clouds.capacities(template: booking.template, offering: booking.offering)
        let outcome = try await store.book(booking, regions: regions, planning: planning, write: write)
        switch outcome {
        case .accepted(let booking, _) where write:
            context.audit.say(
                "booked \(booking.id): \(booking.totalSeats) seats × \(try booking.sessions().filter { !$0.skipped }.count) sessions of \(booking.template)"
            )
        case .refused(let refusal) where write:
            context.audit.say("refused: \(refusal.shortfalls.count) sessions do not fit")
        default: break
        }
        return Placed(outcome: outcome, regions: regions)
    }

    func register(on router: GuardedRouter) {
        let api = self
        router.get("/api/v1/courses") { _, context in
            JSONResponse.make(try await api.courses(for: try context.require()))
        }
        router.post("/api/v1/courses") { request, context in
            let new = try await JSONBody.decode(NewCourse.self, request, limit: 16 << 10)
            return JSONResponse.make(try await api.addCourse(new, context), status: 201)
        }
        router.get("/api/v1/courses/{course}") { _, context in
            let course = try await api.course(context)
            return JSONResponse.make(CourseView(course: course, groups: try await api.store.groups(course: course.id)))
        }
        router.post("/api/v1/courses/{course}/students") { request, context in
            let course = try await api.course(context)
            let group = request.uri.queryParameters.get("group") ?? "students"
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let members = try RosterCSV.parse(String(decoding: body.readableBytesView, as: UTF8.self))
            try await api.store.setMembers(course: course.id, group: group, members)
            context.audit.say("group \(group): \(members.count) students")
            return JSONResponse.make(CourseView(course: course, groups: try await api.store.groups(course: course.id)))
        }
        router.get("/api/v1/courses/{course}/bookings") { _, context in
            let course = try await api.course(context)
            return JSONResponse.make(try await api.store.bookings(course: course.id))
        }
        router.post("/api/v1/courses/{course}/bookings") { request, context in
            try await api.book(request, context, write: true)
        }
        router.post("/api/v1/courses/{course}/bookings/check") { request, context in
            try await api.book(request, context, write: false)
        }
        router.get("/api/v1/bookings/{booking}") { _, context in
            let (booking, _) = try await api.booking(context)
            return JSONResponse.make(try await api.view(booking))
        }
        router.post("/api/v1/bookings/{booking}/cancel") { _, context in
            let (booking, _) = try await api.booking(context)
            let cancelled = try await api.store.cancel(booking.id, now: Date())
            context.audit.change("status", from: booking.status.rawValue, to: cancelled.status.rawValue)
            return JSONResponse.make(try await api.view(cancelled))
        }
        router.post("/api/v1/bookings/{booking}/skip") { request, context in
            let (booking, _) = try await api.booking(context)
            let asked = try await JSONBody.decode(SkipRequest.self, request, limit: 1024)
            let changed = try await api.store.skip(booking.id, date: asked.date, now: Date())
            context.audit.say("skipped \(asked.date), sequence \(changed.sequence)")
            return JSONResponse.make(try await api.view(changed))
        }
        router.post("/api/v1/courses/{course}/calendar") { request, context in
            let course = try await api.course(context)
            let token = try await api.store.newFeedToken(kind: "course", subject: course.id)
            context.audit.say("new calendar feed URL for \(course.code) (the old one stops working)")
            return JSONResponse.make(Feed(url: api.publicURL(request) + "/calendar/" + token), status: 201)
        }
        router.post("/api/v1/calendar") { request, context in
            let teacher = Self.owner(try context.require())
            let token = try await api.store.newFeedToken(kind: "teacher", subject: teacher)
            context.audit.say("new calendar feed URL for the classes of \(teacher) (the old one stops working)")
            return JSONResponse.make(Feed(url: api.publicURL(request) + "/calendar/" + token), status: 201)
        }
        router.get("/calendar/{token}") { request, context in
            // The secret is the URL: calendar apps cannot log in. Unknown and revoked tokens look alike.
            guard let feed = try await api.store.feed(token: try context.parameters.require("token")), ["course", "teacher"].contains(feed.kind)
            else {
                throw APIError(status: 404, "No calendar at this address: ask the course's teacher for its current feed URL.")
            }
            let courses = feed.kind == "course" ? [try await api.store.course(feed.subject)] : try await api.store.courses(teacher: feed.subject)
            var events: [ICalendar.Event] = []
            for course in courses {
                for booking in try await api.store.bookings(course: course.id) {
                    events.append(.init(booking: booking, courseTitle: course.title, location: "mClouds \(course.code)"))
                }
            }
            let name = feed.kind == "course" ? courses.map { "\($0.code) \($0.title)" }.joined() : "Classes of \(feed.subject)"
            let text = try ICalendar(name: name, events: events).text(now: Date())
            return Response(
                status: .ok,
                headers: [.contentType: "text/calendar; charset=utf-8", .contentLength: String(text.utf8.count), .cacheControl: "private, no-cache"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    func view(_ booking: Booking) async throws -> BookingView {
        let seats = try await store.seats(booking: booking.id)
        let placements = try await store.reservations(booking: booking.id)
        let sessions = try await store.sessions(booking: booking.id).map { session in
            let mine = seats.filter { $0.session == session.session }
            return SessionView(
                session: session.session, start: session.local, state: session.state,
                seats: Dictionary(grouping: mine, by: \.state.rawValue).mapValues(\.count),
                regions: Array(Set(placements.filter { $0.session == session.session }.map(\.regionID) + mine.map(\.regionID))).sorted())
        }
        return BookingView(booking: booking, sessions: sessions)
    }

    func book(_ request: Request, _ context: ServerContext, write: Bool) async throws -> Response {
        let course = try await course(context)
        let asked = try await JSONBody.decode(BookingRequest.self, request, limit: 64 << 10)
        let booking = try asked.booking(id: ClassroomStore.newBookingID(), course: course, now: Date())
        switch try await place(booking, write: write, context).outcome {
        case .accepted(let booking, let placements):
            return JSONResponse.make(Accepted(booking: booking, placements: placements), status: write ? 201 : 200)
        case .refused(let refusal):
            let first = refusal.shortfalls.first
            let message =
                first.map {
                    "The booking does not fit: the session of \($0.start) lacks \($0.missingSeats) seats (\($0.resource)"
                        + ($0.regionID.map { " in region \($0)" } ?? "")
                        + "); \(refusal.shortfalls.count) sessions do not fit. See refusal.alternatives."
                } ?? "The booking does not fit."
            return JSONResponse.make(Refused(error: .init(status: 409, message: message), refusal: refusal), status: 409)
        }
    }
}
