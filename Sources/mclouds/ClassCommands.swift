import ArgumentParser
import Classroom
import Core
import Foundation
import NIOHTTP1
import TemplateRepository

/// `mclouds class`: a teacher's courses and bookings on an mClouds server.
struct ClassCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "class",
        abstract: "Book lab sessions for a course across the federation (teachers; partner and federation admins for theirs).",
        discussion: """
            A booking is checked against every region's capacity for each of its sessions and accepted whole or not \
            at all; when it does not fit, the answer says which session lacks what and what would fit instead.

              mclouds class add-course EE-201 --title "Digital design" \\
                  --time-zone Europe/Budapest
              mclouds class import-students EE-201 roster.csv
              mclouds class book EE-201 --template ubuntu-eda \\
                  --offering "Medium Instance" --seats 40 --minutes 90 \\
                  --start 2027-02-16T09:00 --rrule "FREQ=WEEKLY;BYDAY=TU;COUNT=15"
            """,
        subcommands: [
            AddCourse.self, List.self, ImportStudents.self, Book.self, Show.self, Cancel.self, Skip.self, Feed.self, Networks.self, Seats.self,
            Reset.self, Guacamole.self,
        ])

    struct AddCourse: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a course (yours; an admin names its teacher).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "Its short code, unique in the federation (EE-201).") var code: String
        @Option(help: "Its title.") var title: String
        @Option(help: "The IANA time zone its sessions are in (Europe/Budapest).") var timeZone: String
        @Option(help: "The teacher's username (admins only).") var teacher: String?
        @Option(help: "The teacher's home region id (federation admins only).") var region: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let course = try await connection.client.call(
                    .POST, "/api/v1/courses",
                    body: ClassroomWire.NewCourse(code: code, title: title, timeZone: timeZone, teacher: teacher, region: region), as: Course.self)
                if json { return try printJSON(course) }
                Console.line("Added \(course.code) (\(course.id)) of \(course.teacher), in \(course.timeZone).")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the courses you manage and their bookings.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Flag(help: "Print JSON.") var json = false

        struct Listed: Codable {
            var course: Course
            var bookings: [Booking]
        }

        func run() async throws {
            try await reportingErrors {
                let client = try connection.client
                var listed: [Listed] = []
                for course in try await client.call(.GET, "/api/v1/courses", as: [Course].self) {
                    listed.append(.init(course: course, bookings: try await client.call(.GET, "/api/v1/courses/\(course.id)/bookings")))
                }
                if json { return try printJSON(listed) }
                if listed.isEmpty { Console.line("No courses yet: add one with `mclouds class add-course`.") }
                for entry in listed {
                    Console.line(
                        "\(Console.escaped(entry.course.code))  \(Console.escaped(entry.course.title))  teacher \(entry.course.teacher)  \(entry.course.timeZone)"
                    )
                    for booking in entry.bookings {
                        Console.line("  " + ClassCommand.line(booking))
                    }
                }
            }
        }
    }

    struct ImportStudents: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a course's student group from a CSV roster (username,email,name; a header line is allowed).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The course's code or id.") var course: String
        @Argument(help: "The CSV file.") var file: String
        @Option(help: "The group to set (it replaces the group's members).") var group = "students"

        func run() async throws {
            try await reportingErrors {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw CLIError("Cannot read \(file): \(FileProblem.describe(path: file)).")
                }
                let view = try await connection.client.call(
                    .POST, "/api/v1/courses/\(ClassCommand.escaped(course))/students?group=\(ClassCommand.escaped(group))", body: Array(data),
                    contentType: "text/csv", as: ClassroomWire.CourseView.self)
                Console.line("\(view.course.code) group \(group): \(view.groups[group]?.count ?? 0) students.")
            }
        }
    }

    struct Book: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Book a template for a course's sessions; with --check only say whether it fits.",
            discussion: "Exit status 0: booked (or fits); 3: does not fit (the reasons and alternatives are printed); 1: any other error.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The course's code or id.") var course: String
        @Option(help: "What the sessions are called in calendars.") var title = "Lab"
        @Option(help: "The repository template's name.") var template: String
        @Option(help: "The CloudStack service offering's name.") var offering: String
        @Option(help: "Students' seats (one VM each).") var seats: Int
        @Option(help: "Spare seats beyond the students'.") var spares = 0
        @Option(help: "The first session's local start (2027-02-16T09:00), in the course's time zone.") var start: String
        @Option(help: "Each session's length in minutes.") var minutes: Int
        @Option(help: "An RFC 5545 weekly rule (FREQ=WEEKLY;BYDAY=TU;COUNT=15); none: one session.") var rrule: String?
        @Option(help: "A local date to skip (2027-03-16); repeat for more.") var skip: [String] = []
        @Option(help: "A region id the seats may go to, in order of preference; repeat for more; none: anywhere.") var region: [Int] = []
        @Flag(help: "A session may be split across regions.") var allowSplit = false
        @Flag(help: "Only check whether it fits; book nothing.") var check = false
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard LocalDateTime(start) != nil else { throw ValidationError("--start must be a local time like 2027-02-16T09:00 (got \(start)).") }
            for date in skip where LocalDate(date) == nil { throw ValidationError("--skip must be a date like 2027-03-16 (got \(date)).") }
        }

        func run() async throws {
            let request = BookingRequest(
                title: title, template: template, offering: offering, seats: seats, spares: spares, start: LocalDateTime(start)!,
                durationMinutes: minutes, rrule: rrule, skipped: skip.compactMap(LocalDate.init), regions: region, allowSplit: allowSplit)
            let path = "/api/v1/courses/\(ClassCommand.escaped(course))/bookings" + (check ? "/check" : "")
            var refused: ClassroomWire.Refused?
            try await reportingErrors {
                do {
                    let accepted = try await connection.client.call(.POST, path, body: request, as: ClassroomWire.Accepted.self)
                    if json { return try printJSON(accepted) }
                    let sessions = Set(accepted.placements.map(\.session)).count
                    let regions = Set(accepted.placements.map(\.regionID)).sorted().map(String.init).joined(separator: ", ")
                    Console.line(
                        (check ? "Fits: " : "Booked \(accepted.booking.id): ")
                            + "\(accepted.booking.totalSeats) seats × \(sessions) sessions, in region \(regions).")
                } catch let error as RepositoryClientError where error.status == 409 {
                    guard let decoded = try? JSONDecoder().decode(ClassroomWire.Refused.self, from: Data(error.answer)) else { throw error }
                    refused = decoded
                }
            }
            guard let refused else { return }
            if json {
                try printJSON(refused)
            } else {
                Console.error("Does not fit: \(refused.error.message)")
                for shortfall in refused.refusal.shortfalls.prefix(10) {
                    Console.error(
                        "  session \(shortfall.session + 1) at \(shortfall.start): \(shortfall.missingSeats) seats short (\(shortfall.resource)"
                            + (shortfall.regionID.map { ", region \($0)" } ?? "") + ")")
                }
                if refused.refusal.shortfalls.count > 10 { Console.error("  … and \(refused.refusal.shortfalls.count - 10) more sessions") }
                for alternative in refused.refusal.alternatives { Console.error("  would fit: \(alternative.summary)") }
            }
            throw ExitCode(3)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A booking and the state of each session's seats.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The booking's id.") var booking: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let view = try await connection.client.call(
                    .GET, "/api/v1/bookings/\(ClassCommand.escaped(booking))", as: ClassroomWire.BookingView.self)
                if json { return try printJSON(view) }
                ClassCommand.print(view)
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a booking: sessions not yet held are dropped; running seats are torn down.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The booking's id.") var booking: String

        func run() async throws {
            try await reportingErrors {
                let view = try await connection.client.call(
                    .POST, "/api/v1/bookings/\(ClassCommand.escaped(booking))/cancel", as: ClassroomWire.BookingView.self)
                Console.line("Cancelled \(view.booking.id) (calendar sequence \(view.booking.sequence)).")
            }
        }
    }

    struct Skip: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Skip one session of a booking (a holiday): its seats are not made.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The booking's id.") var booking: String
        @Option(help: "The session's local date (2027-03-16).") var date: String

        func validate() throws {
            guard LocalDate(date) != nil else { throw ValidationError("--date must be a date like 2027-03-16 (got \(date)).") }
        }

        func run() async throws {
            try await reportingErrors {
                let view = try await connection.client.call(
                    .POST, "/api/v1/bookings/\(ClassCommand.escaped(booking))/skip", body: ClassroomWire.SkipRequest(date: LocalDate(date)!),
                    as: ClassroomWire.BookingView.self)
                Console.line("Skipped \(date); \(view.sessions.filter { $0.state != .skipped }.count) sessions remain.")
            }
        }
    }

    struct Feed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new secret iCalendar feed URL for a course, or for all your classes (the old one stops working).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The course's code or id; none: every course you teach.") var course: String?

        func run() async throws {
            try await reportingErrors {
                let path = course.map { "/api/v1/courses/\(ClassCommand.escaped($0))/calendar" } ?? "/api/v1/calendar"
                let feed = try await connection.client.call(.POST, path, as: ClassroomWire.Feed.self)
                Console.line(feed.url)
                Console.error("Anyone with this URL can read the calendar: share it only with those who should.")
            }
        }
    }

    static func escaped(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    static func line(_ booking: Booking) -> String {
        let rule = booking.rule.map { " " + $0.rrule(zone: (try? Booking.zone(booking.timeZone)) ?? .gmt) } ?? ""
        return
            "\(booking.id)  \(booking.status.rawValue)  \(Console.escaped(booking.title))  \(booking.template) × \(booking.totalSeats)  from \(booking.start), \(booking.durationMinutes) min\(rule)"
    }

    static func print(_ view: ClassroomWire.BookingView) {
        Console.line(line(view.booking))
        for session in view.sessions {
            let seats = SeatState.allCases.compactMap { state in session.seats[state.rawValue].map { "\($0) \(state.rawValue)" } }
            Console.line(
                "  \(session.session + 1)  \(session.start)  \(session.state.rawValue)"
                    + (seats.isEmpty ? "" : "  seats: " + seats.joined(separator: ", "))
                    + (session.regions.isEmpty ? "" : "  regions " + session.regions.map(String.init).joined(separator: ", ")))
        }
    }
}
