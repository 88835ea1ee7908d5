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
                        site: "MECA-TUS", template: "ubuntu-22.04", version: "1.0", state: "ready", bytesDownloaded: 40_000, bytesReused: 0, error: nil)
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
