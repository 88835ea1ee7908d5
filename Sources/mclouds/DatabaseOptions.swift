import ArgumentParser
import Core
import Foundation
import Server
import Storage

/// Where the central service keeps its catalog, registry and dashboard: SQLite in the data directory (the
/// default) or a PostgreSQL database — `--database-url`, else `MCLOUDS_DATABASE_URL`, else `database.url` of the
/// server's configuration file. The password comes from `--database-password-file`, `MCLOUDS_DATABASE_PASSWORD`
/// or the file's `database.passwordFile`, never from the command line.
struct DatabaseOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A PostgreSQL database for the catalog, registry and dashboard (postgres://user@host:5432/db?sslmode=require; or set MCLOUDS_DATABASE_URL); default: SQLite in --data.",
            valueName: "url"))
    var databaseUrl: String?
    @Option(help: "A file holding the database password (or set MCLOUDS_DATABASE_PASSWORD).") var databasePasswordFile: String?
    @Option(help: "Connections in the PostgreSQL pool (default 10).") var databasePoolSize: Int?

    func validate() throws {
        if let databasePoolSize, databasePoolSize < 1 { throw ValidationError("--database-pool-size must be at least 1.") }
    }

    /// The PostgreSQL configuration chosen by the options, the environment and `file` (in that order), or `nil` for SQLite.
    func resolve(file: ServerConfigurationFile.Database? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> PostgresStore.Configuration?
    {
        func nonEmpty(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        guard let url = databaseUrl ?? nonEmpty("MCLOUDS_DATABASE_URL") ?? file?.url else { return nil }
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme?.lowercased() ?? ""),
            components.host?.isEmpty == false
        else {
            throw CLIError(
                "The database URL must look like postgres://user@host:5432/database (got \(Console.escaped(PostgresStore.redacted(url)))).")
        }
        var password = nonEmpty("MCLOUDS_DATABASE_PASSWORD")
        if let path = databasePasswordFile ?? (password == nil ? file?.passwordFile : nil) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CLIError("Cannot read the database password file \(path): \(FileProblem.describe(path: path))")
            }
            password = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return PostgresStore.Configuration(url: url, password: password, poolSize: databasePoolSize ?? file?.poolSize ?? 10)
    }

    @Option(help: "The key that seals the regions' secret keys (default: keys/secrets.aes256 in --data; keep it outside, mode 0600).")
    var secretsKey: String?

    /// The data directory `path` with the database and secrets key these options (or the file) choose.
    func directory(_ path: String, file: ServerConfigurationFile.Database? = nil, secretsKey fileKey: String? = nil) throws -> DataDirectory {
        DataDirectory(path, database: try resolve(file: file), secretsKey: secretsKey ?? fileKey)
    }
}

/// `mclouds server --config FILE`: the server's settings in YAML, each one also an option of the same meaning
/// (an option given on the command line wins). See `deploy/server.yaml`.
struct ServerConfigurationFile: Decodable, Sendable {
    struct Database: Decodable, Sendable {
        var url: String?
        var passwordFile: String?
        var poolSize: Int?
    }

    struct TLS: Decodable, Sendable {
        var certificate: String?
        var key: String?
        var redirectHttpPort: Int?
    }

    struct Dashboard: Decodable, Sendable {
        var collectIntervalMinutes: Double?
        var regionTimeoutSeconds: Double?
        var retentionDays: Double?
        var trustCa: String?
    }

    var data: String?
    var host: String?
    var port: Int?
    var publicUrl: String?
    var adminTokenFile: String?
    var catalogValidityHours: Double?
    var idleTimeoutSeconds: Double?
    var scrubIntervalHours: Double?
    var database: Database?
    var dashboard: Dashboard?
    var tls: TLS?
    /// Per group of routes (admin, agent, downloads, web), the networks admitted.
    var allow: [String: [String]]?
    /// The key that seals the regions' secret keys (outside the data directory).
    var secretsKey: String?
    /// Proxies whose X-Forwarded-For names the client.
    var trustedProxies: [String]?
}
