import ArgumentParser
import Core
import Federation
import Foundation
import Logging
import NIOHTTP1
import Server
import TemplateRepository

/// `mclouds region …`: the federation's region registry, and `region sync` to bring every installation's
/// regions table in line with it.
struct RegionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "region",
        abstract: "The federation's region registry, and its sync to every installation's regions table.",
        discussion: """
            Changes go through a running server (--server URL, a federation admin's token in MCLOUDS_TOKEN or \
            --token-file), which authorises and audits them; --data DIR writes the registry directly, for offline \
            bootstrap. Secret keys never go on the command line: give them in MCLOUDS_REGION_SECRET or with \
            --secret-key-file; they are stored encrypted.

              MCLOUDS_REGION_SECRET=… mclouds region add --server https://mclouds.org \\
                  --id 6 --name MECA-TUS --api-key … \\
                  --endpoint https://cloud.tus.example/client/api
              mclouds region sync --server https://mclouds.org --dry-run
            """,
        subcommands: [Add.self, List.self, Show.self, Update.self, Remove.self, Sync.self])

    struct Location: ParsableArguments {
        @OptionGroup var global: GlobalOptions
        @Option(help: "An mClouds server to make the change through (authorised and audited; the token from --token-file or MCLOUDS_TOKEN).")
        var server: String?
        @Option(help: "A file holding the token for --server (or set MCLOUDS_TOKEN).") var tokenFile: String?
        @Option(help: "A PEM file of CA certificates to trust for an HTTPS --server, besides the system's (or set MCLOUDS_CA_BUNDLE).")
        var caBundle: String?
        @Option(help: "The server's data directory, for offline bootstrap (no authorisation, no audit).") var data: String?
        @OptionGroup var databaseOptions: DatabaseOptions

        func validate() throws {
            guard (data == nil) != (server == nil) else { throw ValidationError("Give either --server URL (with a token) or --data DIR.") }
            if let server { try URLOption.validate(server, option: "--server") }
            try TokenSource.validate(file: tokenFile)
        }

        /// The server's client when `--server` is given.
        var client: RepositoryClient? {
            get throws {
                try server.map {
                    RepositoryClient(baseURL: $0, token: TokenSource.read(file: tokenFile), httpClient: try ServerTrust.client(caBundle))
                }
            }
        }

        /// How to name this place in a hint (`--server URL` or `--data DIR`).
        var hint: String { server.map { "--server \($0)" } ?? "--data \(data ?? "")" }

        /// The registry of `--data`. Only `region add` (`.creating`) may make the directory and the secrets key.
        /// A change (`writes`) is refused while a server runs on the directory.
        func open(_ opening: DataDirectory.Opening = .existing, writes: Bool = false, label: String = "mclouds.region") async throws -> (
            RegionRegistry, Logger
        ) {
            let logger = global.makeLogger(label: label)
            let directory = try databaseOptions.directory(data ?? "")
            if writes { try OfflineChange.hold(directory) }
            let registry = try await directory.openRegistry(opening, logger: logger) { path in
                Console.error("Created the secrets key \(path), which seals the regions' secret keys: back it up with the database.")
            }
            return (registry, logger)
        }
    }

    /// The secret key from `MCLOUDS_REGION_SECRET` or a file.
    static func secret(file: String?, required: Bool) throws -> String? {
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw CLIError("Cannot read the secret key file \(file).") }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let secret = ProcessInfo.processInfo.environment["MCLOUDS_REGION_SECRET"], !secret.isEmpty { return secret }
        if required { throw CLIError("No secret key: set MCLOUDS_REGION_SECRET or pass --secret-key-file (never the key itself).") }
        return nil
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a region (a CloudStack installation of the federation).")
        @OptionGroup var location: Location
        @Option(help: "Its CloudStack region id (set when its database was created).") var id: Int
        @Option(help: "Its name.") var name: String
        @Option(help: "Its API endpoint, e.g. https://cloud.example.org/client/api.") var endpoint: String
        // CloudStack's keys are base64url: one in 64 begins with "-", which must not be taken for an option.
        @Option(parsing: .unconditional, help: "The federation admin account's API key there.") var apiKey: String
        @Option(help: "A file holding that account's secret key (else MCLOUDS_REGION_SECRET).") var secretKeyFile: String?
        @Flag(help: "Portable IPs are enabled there.") var portableIp = false
        @Flag(help: "GSLB is not enabled there.") var noGslb = false
        @Option(help: "Who runs it.") var contact: String?
        @Option(help: "Notes.") var notes: String?
        @Option(help: ArgumentHelp("A network of the partner (CIDR, repeatable): its IP locks admit it.", valueName: "cidr")) var network: [String] =
            []
        @Flag(help: "Do not verify the API's certificate (logged as a warning at every use; for a test region only).") var noVerifyTls = false

        func run() async throws {
            try await reportingErrors {
                let secret = try RegionCommand.secret(file: secretKeyFile, required: true)!
                let region = FederationRegion(
                    id: id, name: name, endpoint: endpoint, portableIPEnabled: portableIp, gslbEnabled: !noGslb, apiKey: apiKey, contact: contact,
                    notes: notes, networks: network, verifyTLS: !noVerifyTls)
                if let client = try location.client {
                    let body = NewRegionRequest(region: region, secretKey: secret)
                    _ = try await client.call(.POST, "/api/v1/regions", body: body, as: FederationRegion.self)
                } else {
                    let (registry, _) = try await location.open(.creating, writes: true)
                    try await registry.add(region, secretKey: secret)
                }
                Console.line("Registered region \(id) \(name). Run `mclouds region sync \(location.hint)` to tell every installation.")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered regions.")
        @OptionGroup var location: Location
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let regions =
                    if let client = try location.client {
                        try await client.call(.GET, "/api/v1/regions", as: [FederationRegion].self)
                    } else {
                        try await location.open().0.list()
                    }
                if json { return try printJSON(regions) }
                var rows = [["ID", "NAME", "ENDPOINT", "PORTABLE IP", "GSLB", "CONTACT"]]
                for r in regions {
                    rows.append([String(r.id), r.name, r.endpoint, r.portableIPEnabled ? "yes" : "no", r.gslbEnabled ? "yes" : "no", r.contact ?? ""])
                }
                Console.line(Table.render(rows))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one region (by id or name); the secret key is never shown.")
        @OptionGroup var location: Location
        @Argument(help: "Region id or name.") var region: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let r: FederationRegion
                if let client = try location.client {
                    if let id = Int(region) {
                        r = try await client.call(.GET, "/api/v1/regions/\(id)", as: FederationRegion.self)
                    } else {
                        let all = try await client.call(.GET, "/api/v1/regions", as: [FederationRegion].self)
                        guard let found = all.first(where: { $0.name == region }) else {
                            throw CLIError("No region named \(Console.escaped(region)).")
                        }
                        r = found
                    }
                } else {
                    r = try await location.open().0.region(region)
                }
                if json { return try printJSON(r) }
                Console.line("region \(r.id): \(r.name)")
                Console.line("  endpoint:      \(r.endpoint)")
                Console.line("  api key:       \(r.apiKey)")
                Console.line("  secret key:    (stored encrypted)")
                Console.line("  portable IPs:  \(r.portableIPEnabled ? "enabled" : "disabled")")
                Console.line("  GSLB:          \(r.gslbEnabled ? "enabled" : "disabled")")
                if let contact = r.contact { Console.line("  contact:       \(contact)") }
                if let notes = r.notes { Console.line("  notes:         \(notes)") }
                if !r.networks.isEmpty { Console.line("  networks:      \(r.networks.joined(separator: ", "))") }
                if !r.verifyTLS { Console.line("  TLS:           certificate NOT verified") }
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a region's fields (a new secret from MCLOUDS_REGION_SECRET or --secret-key-file).")
        @OptionGroup var location: Location
        @Argument(help: "Region id.") var id: Int
        @Option(help: "New name.") var name: String?
        @Option(help: "New API endpoint.") var endpoint: String?
        @Option(parsing: .unconditional, help: "New API key.") var apiKey: String?
        @Option(help: "A file holding a new secret key.") var secretKeyFile: String?
        @Flag(help: "Read a new secret key from MCLOUDS_REGION_SECRET.") var newSecret = false
        @Option(help: "Portable IPs enabled (true/false).") var portableIp: Bool?
        @Option(help: "GSLB enabled (true/false).") var gslb: Bool?
        @Option(help: "Contact (empty clears it).") var contact: String?
        @Option(help: "Notes (empty clears them).") var notes: String?
        @Option(help: ArgumentHelp("The partner's networks (CIDR, repeatable; replaces the list).", valueName: "cidr")) var network: [String] = []
        @Flag(help: "Clear the partner's networks.") var noNetworks = false
        @Option(help: "Verify the API's certificate (true/false; false is logged as a warning at every use).") var verifyTls: Bool?

        func run() async throws {
            try await reportingErrors {
                let secret = secretKeyFile != nil || newSecret ? try RegionCommand.secret(file: secretKeyFile, required: true) : nil
                let changes = RegionRegistry.Changes(
                    name: name, endpoint: endpoint, portableIPEnabled: portableIp, gslbEnabled: gslb, apiKey: apiKey, secretKey: secret,
                    contact: contact, notes: notes, networks: noNetworks ? [] : network.isEmpty ? nil : network, verifyTLS: verifyTls)
                let updated =
                    if let client = try location.client {
                        try await client.call(.PATCH, "/api/v1/regions/\(id)", body: changes, as: FederationRegion.self)
                    } else {
                        try await location.open(writes: true).0.update(id, changes)
                    }
                Console.line("Updated region \(updated.id) \(updated.name). Run `mclouds region sync \(location.hint)` to tell every installation.")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a region from the registry (installations drop it at the next sync).")
        @OptionGroup var location: Location
        @Argument(help: "Region id.") var id: Int

        func run() async throws {
            try await reportingErrors {
                if let client = try location.client {
                    try await client.perform(.DELETE, "/api/v1/regions/\(id)")
                } else {
                    try await location.open(writes: true).0.remove(id)
                }
                Console.line("Removed region \(id). Run `mclouds region sync \(location.hint)` to remove it from every installation.")
            }
        }
    }

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make every installation's regions table list the registry's regions; print the plan per installation, then apply it.",
            discussion: "Exit status 1 when an installation could not be reached or a change failed (the others are still reconciled).")
        @OptionGroup var location: Location
        @Flag(help: "Print the plan only.") var dryRun = false
        @Flag(help: "Also remove rows the registry does not list (listed apart in the plan; never an installation's own row).")
        var allowRemovals = false
        @Flag(help: "Print the reports as JSON.") var json = false

        func run() async throws {
            var failed = false
            try await reportingErrors {
                let reports: [RegionReconciler.Report]
                if let client = try location.client {
                    reports = try await client.call(
                        .POST, "/api/v1/regions/sync?dryRun=\(dryRun)&allowRemovals=\(allowRemovals)", as: [RegionReconciler.Report].self)
                } else {
                    let (registry, logger) = try await location.open(writes: !dryRun)
                    reports = try await RegionReconciler(registry: registry, logger: logger).run(dryRun: dryRun, allowRemovals: allowRemovals)
                }
                failed = reports.contains { !$0.ok }
                if json { return try printJSON(reports) }
                for report in reports { RegionCommand.print(report, dryRun: dryRun, allowRemovals: allowRemovals) }
                let changed = reports.reduce(0) { $0 + (dryRun ? $1.actions.count + ($1.removalsHeld ? 0 : $1.removals.count) : $1.applied.count) }
                Console.line("\(reports.count) installations, \(changed) change\(changed == 1 ? "" : "s") \(dryRun ? "planned" : "applied").")
                let held = reports.reduce(0) { $0 + ($1.removalsHeld ? $1.removals.count : 0) }
                if held > 0 { Console.line("\(held) removal\(held == 1 ? "" : "s") held back: run again with --allow-removals to apply them.") }
            }
            if failed { throw ExitCode(1) }
        }
    }

    static func print(_ report: RegionReconciler.Report, dryRun: Bool, allowRemovals: Bool) {
        Console.line("\(report.id) \(report.name)")
        guard report.reachable else {
            Console.line("  unreachable, skipped: \(report.error ?? "")")
            return
        }
        if let mismatch = report.idMismatch {
            Console.line("  BLOCKED: \(mismatch)")
        } else if report.actions.isEmpty && report.removals.isEmpty {
            Console.line("  in line with the registry")
        }
        func mark(_ action: RegionAction) -> String {
            if dryRun { return "" }
            return report.failures.contains { $0.hasPrefix(action.description) } ? "  FAILED" : "  done"
        }
        for action in report.actions { Console.line("  \(action)\(mark(action))") }
        if !report.removals.isEmpty {
            Console.line(allowRemovals ? "  removals:" : "  removals (held back; --allow-removals applies them):")
            for action in report.removals { Console.line("  \(action)\(allowRemovals ? mark(action) : "")") }
        }
        for failure in report.failures { Console.line("  error: \(failure)") }
        for drift in report.drift { Console.line("  drift: \(drift)") }
    }
}

/// The body of `POST /api/v1/regions`: the region and its secret key (sealed by the server, never returned).
struct NewRegionRequest: Encodable {
    var region: FederationRegion
    var secretKey: String

    enum CodingKeys: String, CodingKey {
        case id, name, endpoint, portableIPEnabled, gslbEnabled, apiKey, secretKey, contact, notes, networks, verifyTLS
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(region.id, forKey: .id)
        try container.encode(region.name, forKey: .name)
        try container.encode(region.endpoint, forKey: .endpoint)
        try container.encode(region.portableIPEnabled, forKey: .portableIPEnabled)
        try container.encode(region.gslbEnabled, forKey: .gslbEnabled)
        try container.encode(region.apiKey, forKey: .apiKey)
        try container.encode(secretKey, forKey: .secretKey)
        try container.encodeIfPresent(region.contact, forKey: .contact)
        try container.encodeIfPresent(region.notes, forKey: .notes)
        try container.encode(region.networks, forKey: .networks)
        try container.encode(region.verifyTLS, forKey: .verifyTLS)
    }
}
