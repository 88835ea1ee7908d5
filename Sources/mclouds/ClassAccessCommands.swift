import ArgumentParser
import Classroom
import Core
import Foundation
import NIOHTTP1
import TemplateRepository

extension ClassCommand {
    /// `mclouds class networks`: the networks students reach a course's seats from.
    struct Networks: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the networks (CIDRs) students reach a course's seats from over SSH or RDP; none: console only.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The course's code or id.") var course: String
        @Option(name: .customLong("allow"), help: "A network, e.g. 192.0.2.0/24 (repeat for more).") var networks: [String] = []

        func run() async throws {
            try await reportingErrors {
                struct Body: Encodable { var networks: [String] }
                let changed = try await connection.client.call(
                    .PUT, "/api/v1/courses/\(ClassCommand.escaped(course))/networks", body: Body(networks: networks), as: Course.self)
                Console.line(
                    "\(changed.code): students connect from \(changed.allowedNetworks.isEmpty ? "nowhere (console only)" : changed.allowedNetworks.joined(separator: ", "))"
                )
            }
        }
    }

    /// `mclouds class seats`: a booking's seats, their students and how they are reached.
    struct Seats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A booking's seats: student, state, and the ssh line (passwords only with --json, for the course's teacher).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The booking's id.") var booking: String
        @Flag(help: "Print JSON.") var json = false

        struct Row: Codable {
            var session: Int
            var seat: Int
            var state: String
            var student: String?
            var regionID: Int
            var ssh: String?
            var error: String?
        }

        func run() async throws {
            try await reportingErrors {
                let path = "/api/v1/bookings/\(ClassCommand.escaped(booking))/seats"
                if json { return try printJSON(try await connection.client.call(.GET, path, as: JSONValue.self)) }
                let rows = try await connection.client.call(.GET, path, as: [Row].self)
                Console.line(
                    Table.render(
                        [["SESSION", "SEAT", "STUDENT", "STATE", "REGION", "CONNECT"]]
                            + rows.map {
                                [
                                    String($0.session + 1), String($0.seat + 1), $0.student ?? "-", $0.state, String($0.regionID),
                                    $0.ssh ?? $0.error ?? "",
                                ]
                            }))
            }
        }
    }

    /// `mclouds class reset`: a seat deployed again during class.
    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deploy a ready or failed seat again (same student, password and port).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The booking's id.") var booking: String
        @Option(help: "The session's number (1 is the first).") var session: Int
        @Option(help: "The seat's number (1 is the first).") var seat: Int

        func run() async throws {
            try await reportingErrors {
                _ = try await connection.client.call(
                    .POST, "/api/v1/bookings/\(ClassCommand.escaped(booking))/sessions/\(session - 1)/seats/\(seat - 1)/reset", as: JSONValue.self)
                Console.line("Seat \(seat) of session \(session) is being deployed again.")
            }
        }
    }

    /// `mclouds class guacamole`: the campus Guacamole gateway students are sent through.
    struct Guacamole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the campus Apache Guacamole gateway (federation admins): its URL and json-secret-key, read from a file.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Option(help: "The gateway's address, e.g. https://gw.uni.example/guacamole/.") var url: String
        @Option(help: "A file whose first line is the json-secret-key (32 hex digits).") var keyFile: String

        func run() async throws {
            try await reportingErrors {
                guard let text = try? String(contentsOfFile: keyFile, encoding: .utf8) else {
                    throw ValidationError("Cannot read the key file \(keyFile): \(FileProblem.describe(path: keyFile)).")
                }
                struct Body: Encodable {
                    var url: String
                    var secretKey: String
                }
                let key = String(text.split(separator: "\n").first ?? "").trimmingCharacters(in: .whitespaces)
                _ = try await connection.client.call(.PUT, "/api/v1/classroom/guacamole", body: Body(url: url, secretKey: key), as: JSONValue.self)
                Console.line("Students' \"Connect in browser\" goes through \(url) now (the key is stored sealed).")
            }
        }
    }
}
