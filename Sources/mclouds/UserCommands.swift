import Access
import ArgumentParser
import Core
import Foundation
import NIOHTTP1
import Server
import TemplateRepository

/// `mclouds admin create`: the first federation admin, written into the server's database (offline bootstrap:
/// before anyone can log in there is nobody to ask the server as).
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin", abstract: "Bootstrap the federation's first administrator.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a federation admin who can log in to the web UI (the password is asked for, or read from a file).",
            discussion: """
                There is no default password: the password comes from a no-echo prompt (typed twice) or from the first \
                line of --password-file. Later users are added by an admin with `mclouds user add`.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The server's data directory.") var data: String
        @OptionGroup var databaseOptions: DatabaseOptions
        @Option(help: "The admin's user name.") var username: String
        @Option(help: "The admin's full name.") var name = ""
        @Option(help: "The admin's e-mail address.") var email = ""
        @Option(help: "A file whose first line is the password (else it is asked for).") var passwordFile: String?

        func run() async throws {
            let logger = global.makeLogger(label: "mclouds.admin")
            try await reportingErrors {
                let password = try SecretPrompt.newPassword(file: passwordFile)
                let directory = try databaseOptions.directory(data)
                try OfflineChange.hold(directory)
                let access = try await directory.openAccess(logger: logger)
                let user = try await access.users.add(
                    username: username, displayName: name, email: email, role: .federationAdmin, scope: nil, password: password)
                try await access.audit.append(
                    actor: "local:\(NSUserName())", role: "-", source: "command line", action: "admin create", target: "username=\(user.username)",
                    result: "ok", summary: "federation admin \(user.username) created")
                Console.line("\(user.username) is a federation admin: log in at the server's /login.")
            }
        }
    }
}

/// `mclouds user`: people's accounts, through the server (each change authorised and audited).
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Add, list, disable and reset the passwords of users (admins; a partner admin manages its region's teachers and students).",
        subcommands: [Add.self, List.self, Disable.self, Enable.self, ResetPassword.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user (the password is asked for, or read from a file).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The user name (a–z, 0–9, '.', '_', '-').") var username: String
        @Option(help: "federation-admin, partner-admin, teacher or student.") var role: String
        @Option(help: "The region a partner admin administers; a teacher's or student's home region.") var region: Int?
        @Option(help: "The user's full name.") var name: String?
        @Option(help: "The user's e-mail address.") var email: String?
        @Option(help: "A file whose first line is the password (else it is asked for).") var passwordFile: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard let role = Role(rawValue: role), role != .siteAgent else {
                throw ValidationError("--role must be federation-admin, partner-admin, teacher or student (got \(role)).")
            }
        }

        func run() async throws {
            try await reportingErrors {
                let password = try SecretPrompt.newPassword(file: passwordFile)
                let asked = NewUserRequest(
                    username: username, displayName: name, email: email, role: role, region: region.map(String.init), password: password)
                let user = try await connection.client.call(.POST, "/api/v1/users", body: asked, as: UserStore.User.self)
                if json { return try printJSON(user) }
                Console.line("Added \(user.username) (\(user.role)\(user.scope.map { " of region \($0)" } ?? "")).")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let users = try await connection.client.call(.GET, "/api/v1/users", as: [UserStore.User].self)
                if json { return try printJSON(users) }
                for user in users {
                    let state = user.disabled.map { "disabled \($0)" } ?? "last login \(user.lastLogin ?? "never")"
                    Console.line(
                        "\(user.username)  \(user.role)\(user.scope.map { "(\($0))" } ?? "")  \(Console.escaped(user.displayName))  \(Console.escaped(user.email))  \(state)"
                    )
                }
            }
        }
    }

    /// One user on a server, and a change posted for it.
    struct UserTarget: ParsableArguments {
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The user name.") var username: String

        func post(_ action: String, done: String) async throws {
            try await reportingErrors {
                try await connection.client.perform(.POST, "/api/v1/users/\(username)/\(action)")
                Console.line("\(done) \(username).")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a user: their sessions end at once.")
        @OptionGroup var target: UserTarget
        func run() async throws { try await target.post("disable", done: "Disabled") }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled user again.")
        @OptionGroup var target: UserTarget
        func run() async throws { try await target.post("enable", done: "Enabled") }
    }

    struct ResetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-password", abstract: "Set a user's password: their sessions end and a login lock is lifted.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The user name.") var username: String
        @Option(help: "A file whose first line is the new password (else it is asked for).") var passwordFile: String?

        func run() async throws {
            try await reportingErrors {
                let password = try SecretPrompt.newPassword(file: passwordFile)
                try await connection.client.perform(.POST, "/api/v1/users/\(username)/password", body: NewPasswordRequest(password: password))
                Console.line("Set a new password for \(username); give it to them by a separate channel.")
            }
        }
    }
}

/// The body of `POST /api/v1/users`.
struct NewUserRequest: Codable {
    var username: String
    var displayName: String?
    var email: String?
    var role: String
    var region: String?
    var password: String
}

/// The body of `POST /api/v1/users/{username}/password`.
struct NewPasswordRequest: Codable {
    var password: String
}
