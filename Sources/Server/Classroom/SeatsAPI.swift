import Access
import Classroom
import CloudStack
import Core
import Federation
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Students' seats and the way onto them, over the JSON API and for the student page: a student sees only their
/// own seats and credentials (a seat of someone else is answered as not found); a course's teacher sees every
/// seat of the course with its password and can reset one; admins see seats without passwords.
struct SeatsAPI: Sendable {
    let api: ClassroomAPI
    let secrets: SecretBox?
    let logger: Logger

    /// How far ahead "my sessions" look.
    static let horizon: TimeInterval = 14 * 86_400

    /// One of a student's sessions, and their seat in it.
    struct MySession: Codable, Sendable {
        var course: String
        var courseTitle: String
        var booking: String
        var title: String
        var session: Int
        var start: String
        var end: String
        /// `waiting` (not yet provisioning), `provisioning`, `ready`, `failed` or `ended`.
        var status: String
        var seat: Int?
        var connection: SeatConnection?
        var ssh: String?
        /// The seat's path under `/api/v1/my/seats/` (and `/my/seats/`).
        var path: String?
    }

    /// A seat as its course's teachers and admins see it (the password only for the course's teacher).
    struct CourseSeat: Codable, Sendable {
        var session: Int
        var seat: Int
        var state: String
        var student: String?
        var regionID: Int
        var connection: SeatConnection?
        var ssh: String?
        var error: String?
    }

    struct GatewaySettings: Codable, Sendable {
        var url: String
        var secretKey: String
    }

    struct Networks: Codable, Sendable {
        var networks: [String]
    }

    struct Link: Codable, Sendable {
        var url: String
    }

    // MARK: Reading

    /// The connection of a seat whose forwarded port is open, its password opened.
    func connection(_ seat: Seat) -> SeatConnection? {
        guard let access = seat.access, access.isOpen, let secrets, let password = try? secrets.open(access.sealedPassword) else { return nil }
        return SeatConnection(access: access, password: password)
    }

    static func status(_ session: SessionRecord, _ seat: Seat?, now: Date) -> String {
        if session.state == .ended || session.end < now { return "ended" }
        guard let seat else { return session.state == .planned ? "waiting" : "provisioning" }
        switch seat.state {
        case .ready: return "ready"
        case .failed: return "failed"
        case .tornDown, .tearingDown: return "ended"
        case .planned, .deploying, .resetting: return "provisioning"
        }
    }

    /// The sessions of `username`'s courses from now to the horizon (and those running), with their seat.
    func mySessions(_ username: String, now: Date = Date()) async throws -> [MySession] {
        let seats = try await api.store.seats(student: username)
        var result: [MySession] = []
        for course in try await api.store.courses(member: username) {
            for booking in try await api.store.bookings(course: course.id) where booking.status == .accepted {
                for session in try await api.store.sessions(booking: booking.id)
                where [.planned, .provisioning, .ready].contains(session.state) && session.end > now
                    && session.start < now.addingTimeInterval(Self.horizon)
                {
                    let seat = seats.first { $0.bookingID == booking.id && $0.session == session.session }
                    let status = Self.status(session, seat, now: now)
                    let connection = status == "ready" ? seat.flatMap(connection) : nil
                    result.append(
                        MySession(
                            course: course.code, courseTitle: course.title, booking: booking.id, title: booking.title, session: session.session,
                            start: Timestamps.string(from: session.start), end: Timestamps.string(from: session.end), status: status,
                            seat: seat?.seat,
                            connection: connection, ssh: connection.flatMap { $0.service == .ssh ? $0.sshCommand : nil },
                            path: seat?.path))
                }
            }
        }
        return result.sorted { $0.start < $1.start }
    }

    /// The caller's own seat named by the path (`{booking}/{session}/{seat}`); anyone else's is not found.
    func mySeat(_ context: ServerContext) async throws -> Seat {
        let principal = try context.require()
        let booking = try context.parameters.require("booking")
        let session = try context.parameters.require("session", as: Int.self)
        let number = try context.parameters.require("seat", as: Int.self)
        guard
            let seat = try await api.store.seats(booking: booking, session: session).first(where: {
                $0.seat == number && $0.student == ClassroomAPI.owner(principal) && $0.state != .tornDown
            })
        else { throw ClassroomError.notFound("seat of yours at \(booking)/\(session)/\(number)") }
        return seat
    }

    /// The seats of a booking as `principal` may see them.
    func courseSeats(_ booking: Booking, _ course: Course, _ principal: Principal) async throws -> [CourseSeat] {
        let teacher = principal.role == .teacher && course.teacher == ClassroomAPI.owner(principal)
        return try await api.store.seats(booking: booking.id).filter { $0.state != .tornDown }.map { seat in
            var connection = teacher ? self.connection(seat) : nil
            if !teacher, let access = seat.access, access.isOpen { connection = SeatConnection(access: access, password: "") }
            return CourseSeat(
                session: seat.session, seat: seat.seat, state: seat.state.rawValue, student: seat.student, regionID: seat.regionID,
                connection: connection, ssh: connection.map(\.sshCommand), error: seat.error)
        }
    }

    /// Requires the course's own teacher (not an admin): what only they may see (the seats' passwords).
    static func requireTeacher(_ course: Course, _ principal: Principal) throws {
        guard principal.role == .teacher, course.teacher == ClassroomAPI.owner(principal) else {
            throw ClassroomError.forbidden("Only the course's teacher sees its seats' passwords.")
        }
    }

    // MARK: The way onto a seat

    /// A one-time browser console of the seat's VM (`createConsoleEndpoint`, made now).
    func console(_ seat: Seat) async throws -> String {
        guard seat.state == .ready, let vmID = seat.vmID else { throw ClassroomError.conflict("The seat is not ready yet: try again when it is.") }
        let client = try await api.clouds.client(region: seat.regionID)
        let endpoint = try await client.createConsoleEndpoint(virtualMachineID: vmID, logger: logger)
        guard endpoint.success == true, let url = endpoint.url else {
            throw ClassroomError.cloud("The region gave no console for the seat: \(endpoint.details ?? "no details").")
        }
        return url
    }

    /// Narrows the seat's port to `address` (the caller's), VCL-style.
    func lock(_ seat: Seat, from address: String) async throws -> SeatAccess {
        let course = try await api.store.course(try await api.store.booking(seat.bookingID).courseID)
        let client = try await api.clouds.client(region: seat.regionID)
        return try await SeatFirewall.lock(seat, to: address, course: course, store: api.store, client: client, logger: logger)
    }

    /// The Guacamole login URL for the seat: fresh single-use data that expires in five minutes.
    func guacamole(_ seat: Seat, student: String, now: Date = Date()) async throws -> String {
        guard let gateway = try await api.store.guacamole(), let secrets else {
            throw ClassroomError.conflict("No Guacamole gateway is configured: connect with SSH or RDP, or use the console.")
        }
        guard let access = seat.access, let connection = self.connection(seat) else {
            throw ClassroomError.conflict("The seat is not reachable over the network yet: use the console.")
        }
        let course = try await api.store.course(try await api.store.booking(seat.bookingID).courseID)
        guard let entry = GuacamoleJSON.connection(to: seat, of: course, access: access, password: connection.password) else {
            throw ClassroomError.conflict("The seat is not reachable over the network yet: use the console.")
        }
        let key = try GuacamoleJSON.key(hex: try secrets.open(gateway.sealedKey))
        let payload = GuacamoleJSON.payload(username: student, connections: [entry], expires: now.addingTimeInterval(GuacamoleJSON.lifetime))
        return GuacamoleJSON.loginURL(gateway: gateway.url, data: try GuacamoleJSON.seal(payload, key: key))
    }

    /// `user-mapping.xml` for one session: each student with their seat's password and connection.
    func userMapping(_ booking: Booking, _ course: Course, session: Int) async throws -> String {
        guard let secrets else { throw ClassroomError.conflict("The server has no secrets key: the seats have no credentials.") }
        let seats = try await api.store.seats(booking: booking.id, session: session)
        return GuacamoleUserMapping.xml(GuacamoleUserMapping.entries(seats, course: course, open: secrets.open))
    }

    static func rdpResponse(_ connection: SeatConnection, name: String) -> Response {
        let text = connection.rdpFile
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/x-rdp", .contentLength: String(text.utf8.count), .cacheControl: "no-store",
                .contentDisposition: "attachment; filename=\"\(name).rdp\"",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: Routes

    func register(on router: GuardedRouter) {
        let seats = self
        router.get("/api/v1/my/seats") { _, context in
            JSONResponse.make(try await seats.mySessions(ClassroomAPI.owner(try context.require())))
        }
        router.get("/api/v1/my/seats/{booking}/{session}/{seat}/rdp") { _, context in
            let seat = try await seats.mySeat(context)
            guard let connection = seats.connection(seat), connection.service == .rdp else {
                throw ClassroomError.conflict("The seat has no Remote Desktop port open: it is not ready, or not a Windows seat.")
            }
            return Self.rdpResponse(connection, name: seat.vmName)
        }
        router.post("/api/v1/my/seats/{booking}/{session}/{seat}/console") { _, context in
            let seat = try await seats.mySeat(context)
            let url = try await seats.console(seat)
            context.audit.say("console of seat \(seat.path)")
            return JSONResponse.make(Link(url: url), status: 201)
        }
        router.post("/api/v1/my/seats/{booking}/{session}/{seat}/guacamole") { _, context in
            let seat = try await seats.mySeat(context)
            let url = try await seats.guacamole(seat, student: ClassroomAPI.owner(try context.require()))
            context.audit.say("Guacamole login for seat \(seat.path)")
            return JSONResponse.make(Link(url: url), status: 201)
        }
        router.post("/api/v1/my/seats/{booking}/{session}/{seat}/lock") { _, context in
            let seat = try await seats.mySeat(context)
            let access = try await seats.lock(seat, from: context.source)
            context.audit.say("seat \(seat.path) locked to \(context.source)")
            return JSONResponse.make(Networks(networks: access.allowedNetworks))
        }
        router.get("/api/v1/bookings/{booking}/seats") { _, context in
            let (booking, course) = try await seats.api.booking(context)
            return JSONResponse.make(try await seats.courseSeats(booking, course, try context.require()))
        }
        router.post("/api/v1/bookings/{booking}/sessions/{session}/seats/{seat}/reset") { _, context in
            let (booking, _) = try await seats.api.booking(context)
            let session = try context.parameters.require("session", as: Int.self)
            let seat = try context.parameters.require("seat", as: Int.self)
            try await seats.api.store.requestReset(booking: booking.id, session: session, seat: seat, now: Date())
            context.audit.say("reset of seat \(seat + 1), session \(session + 1)")
            return JSONResponse.make(["state": SeatState.resetting.rawValue], status: 202)
        }
        router.get("/api/v1/bookings/{booking}/sessions/{session}/user-mapping.xml") { _, context in
            let (booking, course) = try await seats.api.booking(context)
            try Self.requireTeacher(course, try context.require())
            let text = try await seats.userMapping(booking, course, session: try context.parameters.require("session", as: Int.self))
            context.audit.say("Guacamole user-mapping.xml of \(booking.id)")
            return Response(
                status: .ok,
                headers: [.contentType: "application/xml; charset=utf-8", .contentLength: String(text.utf8.count), .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.put("/api/v1/courses/{course}/networks") { request, context in
            let course = try await seats.api.course(context)
            let asked = try await JSONBody.decode(Networks.self, request, limit: 8 << 10)
            let changed = try await seats.api.store.setAllowedNetworks(course: course.id, asked.networks)
            context.audit.change(
                "allowed networks", from: course.allowedNetworks.joined(separator: ","), to: changed.allowedNetworks.joined(separator: ","))
            return JSONResponse.make(changed)
        }
        router.put("/api/v1/classroom/guacamole") { request, context in
            guard let secrets = seats.secrets else { throw ClassroomError.conflict("The server has no secrets key to seal the Guacamole key with.") }
            let asked = try await JSONBody.decode(GatewaySettings.self, request, limit: 4 << 10)
            _ = try GuacamoleJSON.key(hex: asked.secretKey)
            try await seats.api.store.setGuacamole(GuacamoleGateway(url: asked.url, sealedKey: try secrets.seal(asked.secretKey.lowercased())))
            context.audit.say("Guacamole gateway \(asked.url)")
            return JSONResponse.make(["url": asked.url])
        }
    }
}
