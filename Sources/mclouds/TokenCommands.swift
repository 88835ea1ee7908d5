import Access
import ArgumentParser
import AsyncHTTPClient
import Core
import Foundation
import NIOHTTP1
import Server
import Storage
import TemplateRepository

/// Where a command's token comes from: a file (mode 0600) or `MCLOUDS_TOKEN` — never the command line,
/// where `ps` shows it to every user of the machine.
enum TokenSource {
    static func read(file: String?) -> String? {
        if let file {
            return (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return ProcessInfo.processInfo.environment["MCLOUDS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static func validate(file: String?) throws {
        guard let file else { return }
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw ValidationError("Cannot read the token file \(file): \(FileProblem.describe(path: file)).")
        }
    }
}

/// The server a command talks to, and the token it sends.
struct ServerConnection: ParsableArguments {
    @Option(help: "The mClouds server.") var server = "http://127.0.0.1:8080"
    @Option(help: "A file holding the token (or set MCLOUDS_TOKEN).") var tokenFile: String?
    @Option(help: "A PEM file of CA certificates to trust for an HTTPS --server, besides the system's (or set MCLOUDS_CA_BUNDLE).")
    var caBundle: String?

    func validate() throws {
        try URLOption.validate(server, option: "--server")
        try TokenSource.validate(file: tokenFile)
    }

    var client: RepositoryClient {
        get throws { RepositoryClient(baseURL: server, token: TokenSource.read(file: tokenFile), httpClient: try ServerTrust.client(caBundle)) }
    }
}

/// The HTTP client for a server behind a CA of its own: `--ca-bundle`, else `MCLOUDS_CA_BUNDLE`, else the system's roots.
enum ServerTrust {
    static func client(_ caBundle: String?) throws -> HTTPClient {
        let bundle = caBundle ?? ProcessInfo.processInfo.environment["MCLOUDS_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 }
        do {
            return try HTTPClients.trusting(caBundle: bundle)
        } catch {
            throw CLIError("Cannot read CA certificates from \(bundle ?? ""): \(error)")
        }
    }
}

/// `mclouds token`: API tokens for the CLI, site agents and scripts (a federation admin's token is needed).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Issue, list and revoke API tokens (federation admins).",
        discussion: """
            A token is shown once, when it is made; the server keeps only its hash. Give each site agent a token of \
            its own (--role site-agent --site NAME): it can read the catalog and report for that site only.

              MCLOUDS_TOKEN=… mclouds token create --name "agent MECA-TUS" \\
                  --role site-agent --site MECA-TUS
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a token and print its secret (once).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Option(help: "What the token is for (shown in lists and the audit log).") var name: String
        @Option(help: "federation-admin, partner-admin, teacher, student or site-agent.") var role: String
        @Option(help: "The region a partner admin administers.") var region: Int?
        @Option(help: "The site a site agent reports for.") var site: String?
        @Option(help: "Days until it expires (1–366).") var expiresDays = 90
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard Role(rawValue: role) != nil else {
                throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")) (got \(role)).")
            }
        }

        func run() async throws {
            try await reportingErrors {
                let asked = NewTokenRequest(
                    name: name, role: role, scope: region.map(String.init) ?? site, expiresDays: expiresDays)
                let created = try await connection.client.call(.POST, "/api/v1/tokens", body: asked, as: CreatedTokenAnswer.self)
                if json { return try printJSON(created) }
                Console.line(
                    "Token \(created.token.id) (\(created.token.role.rawValue)\(created.token.scope.map { " of \($0)" } ?? ""), expires \(created.token.expires)):"
                )
                Console.line(created.secret)
                Console.error("Store it now (a file of mode 0600, or MCLOUDS_TOKEN): it is not shown again.")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens (never their secrets).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let tokens = try await connection.client.call(.GET, "/api/v1/tokens", as: [TokenStore.Token].self)
                if json { return try printJSON(tokens) }
                for token in tokens {
                    let state = token.revoked.map { "revoked \($0)" } ?? "expires \(token.expires)"
                    Console.line(
                        "\(token.id)  \(token.role.rawValue)\(token.scope.map { "(\($0))" } ?? "")  \(Console.escaped(token.name))  \(state)  last used \(token.lastUsed ?? "never")"
                    )
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token at once.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The token's id (from `mclouds token list`).") var id: String

        func run() async throws {
            try await reportingErrors {
                try await connection.client.perform(.DELETE, "/api/v1/tokens/\(id)")
                Console.line("Revoked \(id).")
            }
        }
    }
}

/// The body of `POST /api/v1/tokens`.
struct NewTokenRequest: Codable {
    var name: String
    var role: String
    var scope: String?
    var expiresDays: Int
}

/// The answer of `POST /api/v1/tokens`.
struct CreatedTokenAnswer: Codable {
    var token: TokenStore.Token
    var secret: String
}

/// `mclouds audit`: the audit log from a server, or its hash chain checked in the database.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Read the audit log (every change and refusal), or verify its hash chain.",
        subcommands: [Show.self, Verify.self], defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Print the audit log from a server.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Option(help: "Entries at or after this time (2026-12-01T00:00:00Z).") var since: String?
        @Option(help: "One token id.") var user: String?
        @Option(help: "Actions starting with this, e.g. \"POST /api/v1/regions\".") var action: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                var query = URLComponents()
                query.queryItems = [("since", since), ("actor", user), ("action", action)].compactMap { name, value in
                    value.map { URLQueryItem(name: name, value: $0) }
                }
                let suffix = query.queryItems?.isEmpty == false ? "?" + (query.percentEncodedQuery ?? "") : ""
                let entries = try await connection.client.call(.GET, "/api/v1/audit" + suffix, as: [AuditLog.Entry].self)
                if json { return try printJSON(entries) }
                for entry in entries {
                    Console.line(
                        "\(entry.sequence)  \(entry.time)  \(entry.actor) (\(entry.role)) from \(entry.source)  \(entry.action) \(Console.escaped(entry.target))  → \(entry.result)"
                            + (entry.summary.isEmpty ? "" : "  \(Console.escaped(entry.summary))")
                    )
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit log's hash chain in the database; exit 1 at the first entry edited, deleted or inserted.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The server's data directory.") var data: String
        @OptionGroup var databaseOptions: DatabaseOptions

        func run() async throws {
            let logger = global.makeLogger(label: "mclouds.audit")
            try await reportingErrors {
                let access = try await databaseOptions.directory(data).openAccess(logger: logger)
                do {
                    let count = try await access.audit.verify()
                    Console.line("The audit log is intact: \(count) entries, each following from the one before.")
                } catch let error as AccessError {
                    Console.error("\(error)")
                    throw ExitCode(1)
                }
            }
        }
    }
}
