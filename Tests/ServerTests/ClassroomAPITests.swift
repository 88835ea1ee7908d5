import Classroom
import CloudStack
import CloudStackSimulator
import Core
import Foundation
import Logging
import NIOHTTP1
import Server
import TemplateRepository
import TestSupport
import Testing

/// The classroom scheduler through real `mclouds server` processes: capacity from the dashboard's collection,
/// readiness from the agents' reports, bookings over the JSON API.
@Suite("Classroom API")
struct ClassroomAPITests {
    static let token = "classroom-admin-token"
    static let admin = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]

    /// A federation of one simulated region (MECA-TUS, id 6) with `ubuntu-22.04` published and reported Ready
    /// there, served by `instances` servers on one data directory (and `backend`); the course `EE-201` of teacher
    /// `ada` exists. `body` gets the servers' base URLs and the course id.
    static func withFederation<T: Sendable>(
        _ instances: Int, on backend: TestDatabase, _ body: ([String], String, Simulator) async throws -> T
    ) async throws -> T {
        try await withTemporaryDirectory { directory in
            let url = backend == .postgres ? try await TestDatabase.newPostgresDatabase() : nil
            let data = directory.appendingPathComponent("data")
            let database = url.map { ["--database-url", $0] } ?? []
            var configuration = SimulatorConfiguration.default(regionName: "MECA-TUS")
            configuration.regionID = 6
            configuration.zones[0].hostCount = 2
            var logger = Logger(label: "test.classroom")
            logger.logLevel = .critical
            return try await Simulator.withRunning(configuration, logger: logger) { simulator in
                let image = try writeFile(bytes(40_000, seed: 16), in: directory)
                let published = try await runMClouds(
                    [
                        "template", "publish", image, "--name", "ubuntu-22.04", "--version", "1.0", "--format", "QCOW2", "--hypervisor", "KVM",
                        "--os-type", "Ubuntu 22.04 LTS", "--data", data.path,
                    ] + database)
                try #require(published.status == 0, "\(published.stderr)")
                let added = try await runMClouds(
                    [
                        "region", "add", "--data", data.path, "--id", "6", "--name", "MECA-TUS", "--endpoint", simulator.endpoint, "--api-key",
                        simulator.adminKeys.apikey!,
                    ] + database, environment: ["MCLOUDS_REGION_SECRET": simulator.adminKeys.secretkey!])
                try #require(added.status == 0, "\(added.stderr)")
                let servers = try await ServerProcess.servers(instances, data: data, database: url, token: token, in: directory)
                defer { for server in servers { kill(server.pid, SIGKILL) } }
                let base = servers[0].baseURL
                #expect(try await http(.POST, base + "/api/v1/dashboard/collect", headers: admin).status == 200)
                let report = RolloutStatus(states: [
                    SiteTemplateState(
                        site: "MECA-TUS", template: "ubuntu-22.04", version: "1.0", state: "ready", bytesDownloaded: 40_000, bytesReused: 0,
                        error: nil)
                ])
                let reported = try await http(
                    .POST, base + "/api/v1/sites/MECA-TUS/report", headers: admin, body: Array(try JSONEncoder().encode(report)))
                try #require(reported.status == 200)
                let course = try await http(
                    .POST, base + "/api/v1/courses", headers: admin,
                    body: Array(#"{"code":"EE-201","title":"Digital design","timeZone":"Europe/Budapest","teacher":"ada"}"#.utf8))
                try #require(course.status == 201, "\(String(decoding: course.body, as: UTF8.self))")
                let id = try #require(course.json?["id"]?.stringValue)
                return try await body(servers.map(\.baseURL), id, simulator)
            }
        }
    }

    static func bookingBody(seats: Int, start: String = "2027-03-02T09:00", rule: String? = nil) -> [UInt8] {
        let rrule = rule.map { #","rrule":"\#($0)""# } ?? ""
        return Array(
            #"{"title":"Lab","template":"ubuntu-22.04","offering":"Medium Instance","seats":\#(seats),"start":"\#(start)","durationMinutes":90\#(rrule)}"#
                .utf8)
    }

    /// How many seats the region has for one session at `start`: what a check of far too many says is missing.
    static func room(_ base: String, course: String, start: String = "2027-03-02T09:00") async throws -> Int {
        let check = try await http(
            .POST, base + "/api/v1/courses/\(course)/bookings/check", headers: admin, body: bookingBody(seats: 500, start: start))
        try #require(check.status == 409, "\(String(decoding: check.body, as: UTF8.self))")
        let missing = try #require(check.json?["refusal"]?["shortfalls"]?.arrayValue?.first?["missingSeats"]?.intValue)
        return 500 - Int(missing)
    }

    @Test(
        "24 bookings in parallel that together need more than the region has (one server on SQLite, two on PostgreSQL): the accepted ones fit exactly, every other is refused with the session, resource and seats missing",
        .timeLimit(.minutes(4)), arguments: TestDatabase.available)
    func noOverbooking(backend: TestDatabase) async throws {
        try await Self.withFederation(backend == .postgres ? 2 : 1, on: backend) { bases, course, _ in
            let room = try await Self.room(bases[0], course: course)
            try #require(room >= 10, "the simulated region is too small for this test: \(room) seats")
            let size = room / 10
            let answers = try await withThrowingTaskGroup(of: Exchange.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        try await http(
                            .POST, bases[index % bases.count] + "/api/v1/courses/\(course)/bookings", headers: Self.admin,
                            body: Self.bookingBody(seats: size, rule: "FREQ=WEEKLY;COUNT=3"))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let accepted = answers.filter { $0.status == 201 }
            let refused = answers.filter { $0.status == 409 }
            #expect(accepted.count == room / size, "room \(room), \(size) seats each: \(accepted.count) accepted")
            #expect(accepted.count + refused.count == 24, "\(answers.map(\.status))")
            for answer in refused {
                let shortfall = answer.json?["refusal"]?["shortfalls"]?.arrayValue?.first
                #expect(shortfall?["regionID"]?.intValue == 6 && shortfall?["missingSeats"]?.intValue ?? 0 > 0, "\(answer.errorMessage ?? "")")
                #expect(["cpu", "memory"].contains(shortfall?["resource"]?.stringValue ?? ""))
                #expect(answer.errorMessage?.isEmpty == false)
            }
            // What the store holds agrees: the region's room is used up to less than one more booking.
            #expect(try await Self.room(bases.last!, course: course) == room - accepted.count * size)
            let listed = try await http(.GET, bases[0] + "/api/v1/courses/\(course)/bookings", headers: Self.admin)
            #expect(listed.json?.arrayValue?.count == accepted.count, "\(listed.status) \(String(decoding: listed.body.prefix(300), as: UTF8.self))")
        }
    }
}

extension ClassroomAPITests {
    @Test(
        "mclouds class: add a course, import its roster, check and book, refuse what does not fit (exit 3, with reasons), show, skip, cancel, feed URL"
    )
    func commandLine() async throws {
        try await Self.withFederation(1, on: .sqlite) { bases, _, _ in
            try await withTemporaryDirectory { directory in
                let environment = ["MCLOUDS_TOKEN": Self.token]
                func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
                    try await runMClouds(["class"] + arguments + ["--server", bases[0]], environment: environment)
                }
                let added = try await run(["add-course", "PH-110", "--title", "Physics lab", "--time-zone", "Europe/Rome", "--teacher", "grace"])
                #expect(added.status == 0 && added.stdout.contains("PH-110"), "\(added.stderr)")
                let roster = directory.appendingPathComponent("roster.csv")
                try Data("username,email,name\nann,ann@example.edu,Ann\nbob,bob@example.edu,\"Bob, Jr.\"\n".utf8).write(to: roster)
                let imported = try await run(["import-students", "PH-110", roster.path])
                #expect(imported.status == 0 && imported.stdout.contains("2 students"), "\(imported.stderr)")
                let bad = directory.appendingPathComponent("bad.csv")
                try Data("username,email,name\nann,not-an-address,Ann\n".utf8).write(to: bad)
                #expect(try await run(["import-students", "PH-110", bad.path]).status == 1)

                let booking = [
                    "PH-110", "--template", "ubuntu-22.04", "--offering", "Medium Instance", "--seats", "2", "--start", "2027-03-03T14:00",
                    "--minutes", "60", "--rrule", "FREQ=WEEKLY;BYDAY=WE;COUNT=4",
                ]
                let checked = try await run(["book"] + booking + ["--check"])
                #expect(checked.status == 0 && checked.stdout.hasPrefix("Fits"), "\(checked.stderr)")
                #expect(try await run(["list", "--json"]).stdout.contains(#""bookings":[]"#))
                let booked = try await run(["book"] + booking + ["--json"])
                #expect(booked.status == 0, "\(booked.stderr)")
                let id = try JSONDecoder().decode(ClassroomWire.Accepted.self, from: Data(booked.stdout.utf8)).booking.id

                let tooBig = try await run([
                    "book", "PH-110", "--template", "ubuntu-22.04", "--offering", "Medium Instance", "--seats", "500", "--start", "2027-03-03T14:00",
                    "--minutes", "60",
                ])
                #expect(tooBig.status == 3 && tooBig.stderr.contains("seats short") && tooBig.stderr.contains("region 6"), "\(tooBig.stderr)")
                let noTemplate = try await run([
                    "book", "PH-110", "--template", "no-such", "--offering", "Medium Instance", "--seats", "2", "--start", "2027-03-03T14:00",
                    "--minutes", "60",
                ])
                #expect(noTemplate.status == 3 && noTemplate.stderr.contains("(template)"), "\(noTemplate.stderr)")

                let skipped = try await run(["skip", id, "--date", "2027-03-17"])
                #expect(skipped.status == 0 && skipped.stdout.contains("3 sessions remain"), "\(skipped.stdout) \(skipped.stderr)")
                let shown = try await run(["show", id])
                #expect(
                    shown.status == 0 && shown.stdout.contains("2027-03-17T14:00  skipped") && shown.stdout.contains("2027-03-24T14:00  planned"),
                    "\(shown.stdout)")
                let listed = try await run(["list"])
                #expect(listed.stdout.contains("PH-110") && listed.stdout.contains(id), "\(listed.stdout)")
                let feed = try await run(["feed", "PH-110"])
                #expect(feed.status == 0 && feed.stdout.contains("/calendar/"), "\(feed.stderr)")
                let calendar = try await http(.GET, feed.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
                #expect(calendar.status == 200 && String(decoding: calendar.body, as: UTF8.self).contains("EXDATE;TZID=Europe/Rome:20270317T140000"))
                let cancelled = try await run(["cancel", id])
                #expect(cancelled.status == 0 && cancelled.stdout.contains("Cancelled"), "\(cancelled.stderr)")
                #expect(try await run(["show", "no-such-booking"]).status == 1)
            }
        }
    }

    @Test("a teacher manages only their own courses; a partner admin only their region's; a federation admin every course")
    func accessPolicy() async throws {
        try await Self.withFederation(1, on: .sqlite) { bases, course, _ in
            let base = bases[0]
            func token(_ role: String, scope: String? = nil) async throws -> [(String, String)] {
                let scopeField = scope.map { #","scope":"\#($0)""# } ?? ""
                let made = try await http(
                    .POST, base + "/api/v1/tokens", headers: Self.admin,
                    body: Array(#"{"name":"\#(role) \#(scope ?? "")","role":"\#(role)","expiresDays":1\#(scopeField)}"#.utf8))
                let secret = try #require(made.json?["secret"]?.stringValue, "\(String(decoding: made.body, as: UTF8.self))")
                return [("Authorization", "Bearer \(secret)"), ("Content-Type", "application/json")]
            }
            let teacher = try await token("teacher")
            let other = try await token("teacher")
            let partner = try await token("partner-admin", scope: "3")
            let student = try await token("student")
            let mine = try await http(
                .POST, base + "/api/v1/courses", headers: teacher,
                body: Array(#"{"code":"CS-1","title":"Intro","timeZone":"Europe/Lisbon"}"#.utf8))
            #expect(mine.status == 201)
            let id = try #require(mine.json?["id"]?.stringValue)
            #expect(try await http(.GET, base + "/api/v1/courses/\(id)", headers: teacher).status == 200)
            #expect(try await http(.POST, base + "/api/v1/courses/\(id)/bookings", headers: teacher, body: Self.bookingBody(seats: 1)).status == 201)
            for (who, headers) in [("other teacher", other), ("partner admin of another region", partner)] {
                #expect(try await http(.GET, base + "/api/v1/courses/\(id)", headers: headers).status == 403, "\(who)")
                #expect(
                    try await http(.POST, base + "/api/v1/courses/\(id)/bookings", headers: headers, body: Self.bookingBody(seats: 1)).status == 403)
                #expect(try await http(.GET, base + "/api/v1/courses", headers: headers).json?.arrayValue?.isEmpty == true, "\(who)")
            }
            #expect(try await http(.GET, base + "/api/v1/courses", headers: student).status == 403)
            #expect(try await http(.GET, base + "/api/v1/courses", headers: []).status == 401)
            #expect(try await http(.GET, base + "/api/v1/courses/\(course)", headers: teacher).status == 403)
            #expect(try await http(.GET, base + "/api/v1/courses", headers: Self.admin).json?.arrayValue?.count == 2)
        }
    }
}

extension ClassroomAPITests {
    static func login(_ base: String, _ username: String, _ password: String) async throws -> Browser {
        var browser = Browser(base)
        let form = try await browser.send(.GET, "/login")
        let csrf = try #require(Browser.csrf(in: form))
        let answer = try await browser.send(.POST, "/login", form: [("csrf", csrf), ("username", username), ("password", password)])
        #expect(answer.status == 303)
        return browser
    }

    @Test(
        "a teacher's pages: add a course, check a booking (fits, then does not: the shortfall and alternatives), book it, see it in the week and its sessions on the booking page, skip and cancel; the script's JSON check works with the session; another teacher is refused"
    )
    func teacherPages() async throws {
        try await Self.withFederation(1, on: .sqlite) { bases, _, _ in
            let base = bases[0]
            let password = "a teacher's long passphrase"
            for name in ["tess", "tom"] {
                let made = try await http(
                    .POST, base + "/api/v1/users", headers: Self.admin,
                    body: Array(#"{"username":"\#(name)","role":"teacher","password":"\#(password)"}"#.utf8))
                try #require(made.status == 201, "\(String(decoding: made.body, as: UTF8.self))")
            }
            var tess = try await Self.login(base, "tess", password)
            let week = try await tess.send(.GET, "/classes?week=2027-03-03")
            #expect(week.status == 200 && String(decoding: week.body, as: UTF8.self).contains("Classes in the week of 2027-03-01"))
            #expect(String(decoding: week.body, as: UTF8.self).contains("MECA-TUS"))
            let csrf = try #require(Browser.csrf(in: week))
            let added = try await tess.send(
                .POST, "/classes", form: [("csrf", csrf), ("code", "NET-3"), ("title", "Networks"), ("timeZone", "Europe/Budapest")])
            #expect(added.status == 303)
            let coursePath = try #require(added.headers.first(name: "Location"))
            let form = [
                ("csrf", csrf), ("title", "Routing lab"), ("template", "ubuntu-22.04"), ("offering", "Medium Instance"), ("seats", "3"),
                ("spares", "1"), ("start", "2027-03-03T10:00"), ("minutes", "90"), ("rrule", "FREQ=WEEKLY;COUNT=3"), ("skipped", ""),
                ("regions", ""),
            ]
            let fits = try await tess.send(.POST, coursePath + "/book", form: form + [("action", "check")])
            #expect(fits.status == 200 && String(decoding: fits.body, as: UTF8.self).contains("It fits: 3 sessions in MECA-TUS"))
            let tooMany = try await tess.send(
                .POST, coursePath + "/book", form: form.map { $0.0 == "seats" ? ("seats", "500") : $0 } + [("action", "book")])
            let refusal = String(decoding: tooMany.body, as: UTF8.self)
            #expect(tooMany.status == 409 && refusal.contains("It does not fit") && refusal.contains("seats short ("))
            // A blocker that leaves two seats at 10:00 on the first Wednesday: the form's check names the session
            // and proposes a later start.
            let courseID = String(coursePath.dropFirst("/classes/".count))
            let room = try await Self.room(base, course: courseID, start: "2027-03-03T10:00")
            let blocker = try await http(
                .POST, base + "/api/v1/courses/\(courseID)/bookings", headers: Self.admin,
                body: Self.bookingBody(seats: room - 2, start: "2027-03-03T10:00"))
            #expect(blocker.status == 201)
            let shifted = try await tess.send(.POST, coursePath + "/book", form: form + [("action", "check")])
            let shiftText = String(decoding: shifted.body, as: UTF8.self)
            #expect(shiftText.contains("Session 1, 2027-03-03T10:00: 2 seats short") && shiftText.contains("Would fit instead"), "\(shiftText)")
            let blockerID = try #require(blocker.json?["booking"]?["id"]?.stringValue)
            #expect(try await http(.POST, base + "/api/v1/bookings/\(blockerID)/cancel", headers: Self.admin).status == 200)
            let bad = try await tess.send(
                .POST, coursePath + "/book", form: form.map { $0.0 == "start" ? ("start", "tomorrow") : $0 } + [("action", "book")])
            #expect(bad.status == 400)
            let booked = try await tess.send(.POST, coursePath + "/book", form: form + [("action", "book")])
            #expect(booked.status == 303)
            let bookingPath = try #require(booked.headers.first(name: "Location"))
            let page = try await tess.send(.GET, bookingPath)
            let text = String(decoding: page.body, as: UTF8.self)
            #expect(page.status == 200 && text.contains("2027-03-17 10:00") && text.contains("planned") && text.contains("/assets/classroom.js"))
            // The skip form offers each planned session by its date, which is what the skip takes.
            #expect(text.contains(#"<option value="2027-03-10">2 · 2027-03-10 10:00</option>"#), "\(text)")
            let inWeek = try await tess.send(.GET, "/classes?week=2027-03-10")
            #expect(String(decoding: inWeek.body, as: UTF8.self).contains("10:00–11:30</strong> NET-3 Routing lab"))

            // What the page's script does: the JSON check with the session cookie and the CSRF header.
            let scripted = try await tess.send(
                .POST, "/api/v1/courses/\(courseID)/bookings/check", json: String(decoding: Self.bookingBody(seats: 2), as: UTF8.self),
                headers: [("X-CSRF-Token", csrf)])
            #expect(scripted.status == 200)
            let script = try await http(.GET, base + "/assets/classroom.js")
            #expect(script.status == 200 && String(decoding: script.body, as: UTF8.self).contains("bookings/check") == false)
            #expect(String(decoding: script.body, as: UTF8.self).contains("dataset.check"))

            let skipped = try await tess.send(.POST, bookingPath + "/skip", form: [("csrf", csrf), ("date", "2027-03-10")])
            #expect(skipped.status == 200 && String(decoding: skipped.body, as: UTF8.self).contains("skipped"))
            #expect(try await tess.send(.POST, bookingPath + "/skip", form: [("date", "2027-03-17")]).status == 403)

            var tom = try await Self.login(base, "tom", password)
            #expect(try await tom.send(.GET, bookingPath).status == 403)
            #expect(try await tom.send(.GET, coursePath).status == 403)
            #expect(!String(decoding: try await tom.send(.GET, "/classes?week=2027-03-10").body, as: UTF8.self).contains("NET-3"))

            // Her own feed: every course she teaches, none of another teacher's.
            let feed = try await tess.send(.POST, "/api/v1/calendar", headers: [("X-CSRF-Token", csrf)])
            let feedURL = try #require(feed.json?["url"]?.stringValue)
            let calendar = String(decoding: try await http(.GET, feedURL).body, as: UTF8.self)
            #expect(
                calendar.contains("BEGIN:VCALENDAR") && calendar.contains("Routing lab")
                    && calendar.contains("EXDATE;TZID=Europe/Budapest:20270310T100000"))
            let tomsFeed = try await tom.send(
                .POST, "/api/v1/calendar", headers: [("X-CSRF-Token", try #require(Browser.csrf(in: try await tom.send(.GET, "/classes"))))])
            let tomsCalendar = String(decoding: try await http(.GET, try #require(tomsFeed.json?["url"]?.stringValue)).body, as: UTF8.self)
            #expect(tomsCalendar.contains("BEGIN:VCALENDAR") && !tomsCalendar.contains("Routing lab"))

            let cancelled = try await tess.send(.POST, bookingPath + "/cancel", form: [("csrf", csrf)])
            #expect(cancelled.status == 200 && String(decoding: cancelled.body, as: UTF8.self).contains("The booking is cancelled"))
        }
    }
}
