import Access
import Classroom
import CloudStack
import CloudStackSimulator
import Core
import Federation
import Foundation
import Logging
import NIOHTTP1
import Server
import Storage
import TestSupport
import Testing

/// Students on their seats through the server: each sees only their own sessions, seats and credentials (in the
/// web UI and the API), the course's teacher sees every seat with its password, admins see seats without them.
@Suite("Student access through the server")
struct StudentAccessTests {
    static let password = "correct horse battery"

    func text(_ exchange: Exchange) -> String { String(decoding: exchange.body, as: UTF8.self) }

    func login(_ base: String, _ username: String) async throws -> (Browser, String) {
        var browser = Browser(base)
        let form = try await browser.send(.GET, "/login")
        let csrf = try #require(Browser.csrf(in: form))
        let answer = try await browser.send(.POST, "/login", form: [("csrf", csrf), ("username", username), ("password", Self.password)])
        #expect(answer.status == 303, "\(text(answer))")
        let account = try await browser.send(.GET, "/account")
        return (browser, try #require(Browser.csrf(in: account)))
    }

    /// A course of `ada` with students amy and bob, a session starting in 20 minutes in region 6, provisioned by
    /// the lifecycle engine: both seats ready with their ports open to 127.0.0.0/8.
    func withClass(_ body: (MCloudsServer, Booking, [Seat], Simulator) async throws -> Void) async throws {
        try await withServerAndRegion { server, _, directory, simulator in
            let access = try #require(server.access)
            for (name, role) in [("amy", Role.student), ("bob", .student), ("ada", .teacher), ("eve", .teacher)] {
                try await access.users.add(username: name, displayName: name, role: role, scope: nil, password: Self.password)
            }
            let store = try #require(server.classroom)
            let federation = try #require(server.federation)
            var logger = Logger(label: "test.student")
            logger.logLevel = .critical
            let client = CloudStackClient(
                configuration: .init(endpoint: simulator.endpoint, apiKey: simulator.adminKeys.apikey!, secretKey: simulator.adminKeys.secretkey!))
            let template = try #require(try await client.listTemplates(filter: .all, logger: logger).first { $0.isready == true })
            try await client.createTags(
                resourceIDs: [template.id!], resourceType: "Template", tags: [ResourceTag(key: "mclouds.template", value: "ubuntu-22.04")],
                logger: logger)
            let course = try await store.addCourse(code: "EE-201", title: "Digital design", teacher: "ada", region: nil, timeZone: "UTC", now: Date())
            _ = try await store.setAllowedNetworks(course: course.id, ["127.0.0.0/8"])
            try await store.setMembers(
                course: course.id, group: "lab",
                [Member(username: "amy", email: "amy@uni.example", name: "Amy"), Member(username: "bob", email: "bob@uni.example", name: "Bob")])
            let start = LocalDateTime.of(Date().addingTimeInterval(1200), in: TimeZone(identifier: "UTC")!)
            let request = BookingRequest(
                title: "Lab", template: "ubuntu-22.04", offering: "Medium Instance", seats: 2, start: start, durationMinutes: 90, regions: [6])
            let booking = try request.booking(id: ClassroomStore.newBookingID(), course: course, now: Date())
            let room = RegionCapacity(
                regionID: 6, name: "MECA-TUS", cpuMHz: 1_000_000, cpuMHzUsed: 0, memoryBytes: 1 << 42, memoryBytesUsed: 0,
                seatSize: SeatSize(cpuMHz: 2000, memoryBytes: 4 << 30), templateReady: true)
            guard case .accepted = try await store.book(booking, regions: [room], planning: .init()) else {
                Issue.record("the booking must fit")
                return
            }
            let leases = try await DataDirectory(directory.path).openClassroom(logger: logger).leases
            let engine = SessionLifecycle(
                store: store, leases: leases, clouds: server.classroomClouds(federation: federation, store: store), clock: ManualWallClock(Date()),
                secrets: federation.registry.secrets, logger: logger)
            for _ in 0..<4 { _ = try await engine.tick() }
            let seats = try await store.seats(booking: booking.id, session: 0)
            try #require(seats.count == 2 && seats.allSatisfy { $0.state == .ready && $0.access?.isOpen == true }, "\(seats)")
            try await body(server, booking, seats, simulator)
        }
    }

    @Test("a student sees and reaches only their own seat; another student's seat is not found; the teacher sees all with passwords")
    func isolation() async throws {
        try await withClass { server, booking, seats, simulator in
            let base = server.baseURL
            let secrets = try #require(server.federation).registry.secrets
            let amySeat = try #require(seats.first { $0.student == "amy" })
            let bobSeat = try #require(seats.first { $0.student == "bob" })
            let amyPassword = try secrets.open(amySeat.access!.sealedPassword)
            let bobPassword = try secrets.open(bobSeat.access!.sealedPassword)
            let amyPath = "\(booking.id)/0/\(amySeat.seat)"
            let bobPath = "\(booking.id)/0/\(bobSeat.seat)"
            var (amy, amyCSRF) = try await login(base, "amy")

            // The API: amy's one session, ready, with her connection and nobody else's.
            let mine = try await amy.send(.GET, "/api/v1/my/seats")
            #expect(mine.status == 200, "\(text(mine))")
            let sessions = try #require(mine.json?.arrayValue)
            #expect(sessions.count == 1 && sessions[0]["status"]?.stringValue == "ready" && sessions[0]["course"]?.stringValue == "EE-201")
            #expect(sessions[0]["connection"]?["password"]?.stringValue == amyPassword)
            let ssh = try #require(sessions[0]["ssh"]?.stringValue)
            #expect(ssh == "ssh -p \(amySeat.access!.port!) student@\(amySeat.access!.address!)")
            #expect(!text(mine).contains(bobPassword))

            // The page: her ssh line and password, not bob's.
            let page = try await amy.send(.GET, "/my")
            #expect(page.status == 200 && text(page).contains(ssh) && text(page).contains(amyPassword) && !text(page).contains(bobPassword))

            // Her ssh line works: the forwarded port answers with the guest's banner.
            let banner = await ServiceProbe.probe(host: amySeat.access!.address!, port: amySeat.access!.port!, service: .ssh, source: "127.0.0.1")
            #expect(banner.answered)

            // Bob's seat through amy's session: not found, whatever the route.
            let csrf = [("X-CSRF-Token", amyCSRF)]
            #expect(try await amy.send(.POST, "/api/v1/my/seats/\(bobPath)/console", headers: csrf).status == 404)
            #expect(try await amy.send(.POST, "/api/v1/my/seats/\(bobPath)/guacamole", headers: csrf).status == 404)
            #expect(try await amy.send(.GET, "/api/v1/my/seats/\(bobPath)/rdp").status == 404)
            #expect(try await amy.send(.POST, "/my/seats/\(bobPath)/console", form: [("csrf", amyCSRF)]).status == 404)
            // The teachers' views are closed to her.
            #expect(try await amy.send(.GET, "/api/v1/bookings/\(booking.id)/seats").status == 403)
            #expect(try await amy.send(.GET, "/bookings/\(booking.id)/seats").status == 403)
            #expect(try await amy.send(.GET, "/api/v1/bookings/\(booking.id)/sessions/0/user-mapping.xml").status == 403)
            #expect(try await amy.send(.POST, "/api/v1/bookings/\(booking.id)/sessions/0/seats/\(bobSeat.seat)/reset", headers: csrf).status == 403)

            // Her own console: a one-time URL the simulator serves; a Linux seat has no .rdp file.
            let console = try await amy.send(.POST, "/api/v1/my/seats/\(amyPath)/console", headers: csrf)
            #expect(console.status == 201 && console.json?["url"]?.stringValue?.hasPrefix(simulator.baseURL) == true, "\(text(console))")
            #expect(try await amy.send(.GET, "/api/v1/my/seats/\(amyPath)/rdp").status == 409)
            // No Guacamole gateway yet: a clear refusal; then the admin sets one and amy gets a login URL.
            #expect(try await amy.send(.POST, "/api/v1/my/seats/\(amyPath)/guacamole", headers: csrf).status == 409)
            let admin = [("Authorization", "Bearer admin-token"), ("Content-Type", "application/json")]
            let key = "4c0b569e4c96df157eee1b65dd0e4d41"
            let set = try await http(
                .PUT, base + "/api/v1/classroom/guacamole", headers: admin,
                body: Array(#"{"url":"https://gw.uni.example/guacamole/","secretKey":"\#(key)"}"#.utf8))
            #expect(set.status == 200 && !text(set).contains(key))
            let sealed = try #require(try await server.classroom?.guacamole()?.sealedKey)
            #expect(!sealed.contains(key))
            let guac = try await amy.send(.POST, "/api/v1/my/seats/\(amyPath)/guacamole", headers: csrf)
            #expect(guac.status == 201 && guac.json?["url"]?.stringValue?.hasPrefix("https://gw.uni.example/guacamole/?data=") == true)
            #expect(!text(guac).contains(amyPassword))
            let guacPage = try await amy.send(.POST, "/my/seats/\(amyPath)/guacamole", form: [("csrf", amyCSRF)])
            #expect(guacPage.status == 200 && text(guacPage).contains("https://gw.uni.example/guacamole/?data="))

            // VCL's IP lock: her seat takes connections from her address only (the test client's, 127.0.0.1).
            #expect(try await amy.send(.POST, "/api/v1/my/seats/\(bobPath)/lock", headers: csrf).status == 404)
            let lock = try await amy.send(.POST, "/api/v1/my/seats/\(amyPath)/lock", headers: csrf)
            #expect(lock.status == 200 && lock.json?["networks"]?.arrayValue?.first?.stringValue == "127.0.0.1/32", "\(text(lock))")
            let (address, port) = (amySeat.access!.address!, amySeat.access!.port!)
            #expect(await ServiceProbe.probe(host: address, port: port, service: .ssh, source: "127.0.0.1").answered)
            #expect(await ServiceProbe.probe(host: address, port: port, service: .ssh, source: "127.0.0.2") == .refused)
            let bobAccess = try #require(bobSeat.access)
            #expect(await ServiceProbe.probe(host: bobAccess.address!, port: bobAccess.port!, service: .ssh, source: "127.0.0.2").answered)
            // An address outside the course's networks cannot be let in that way.
            let course = try #require(try await server.classroom?.course("EE-201"))
            _ = try await server.classroom?.setAllowedNetworks(course: course.id, ["10.0.0.0/8"])
            #expect(try await amy.send(.POST, "/api/v1/my/seats/\(amyPath)/lock", headers: csrf).status == 403)
            _ = try await server.classroom?.setAllowedNetworks(course: course.id, ["127.0.0.0/8"])

            // The teacher sees both seats with their passwords, and gets the session's user-mapping.xml.
            var (ada, adaCSRF) = try await login(base, "ada")
            let list = try await ada.send(.GET, "/api/v1/bookings/\(booking.id)/seats")
            #expect(list.status == 200 && text(list).contains(amyPassword) && text(list).contains(bobPassword))
            let mapping = try await ada.send(.GET, "/api/v1/bookings/\(booking.id)/sessions/0/user-mapping.xml")
            #expect(mapping.status == 200 && text(mapping).contains("username=\"amy\"") && text(mapping).contains("username=\"bob\""))
            let seatsPage = try await ada.send(.GET, "/bookings/\(booking.id)/seats")
            #expect(seatsPage.status == 200 && text(seatsPage).contains("amy") && text(seatsPage).contains("Reset"))
            // Another teacher, and an admin: no passwords.
            var (eve, _) = try await login(base, "eve")
            #expect(try await eve.send(.GET, "/api/v1/bookings/\(booking.id)/seats").status == 403)
            let adminList = try await http(.GET, base + "/api/v1/bookings/\(booking.id)/seats", headers: admin)
            #expect(adminList.status == 200 && !text(adminList).contains(amyPassword) && !text(adminList).contains(bobPassword))
            #expect(try await http(.GET, base + "/api/v1/bookings/\(booking.id)/sessions/0/user-mapping.xml", headers: admin).status == 403)
            // The teacher resets bob's seat.
            let reset = try await ada.send(
                .POST, "/api/v1/bookings/\(booking.id)/sessions/0/seats/\(bobSeat.seat)/reset", headers: [("X-CSRF-Token", adaCSRF)])
            #expect(reset.status == 202, "\(text(reset))")
            #expect(try await server.classroom?.seats(booking: booking.id, session: 0).first { $0.seat == bobSeat.seat }?.state == .resetting)
        }
    }
}
