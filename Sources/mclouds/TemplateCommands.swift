import Access
import ArgumentParser
import Builder
import Core
import Federation
import Foundation
import Logging
import NIOHTTP1
import Server
import Storage
import Synchronization
import TemplateRepository

/// `mclouds template …`: publish and manage templates in a repository (a local data directory or a server).
struct TemplateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template",
        abstract: "Publish, list, show, deprecate, withdraw, garbage-collect and verify templates; build them from recipes.",
        subcommands: [
            Publish.self, List.self, Show.self, Status.self, Withdraw.self, Deprecate.self, Access.self, GC.self, Verify.self, Build.self,
            Builds.self,
            RecipeCommand.self,
        ]
    )
}

/// Where a template command works: a data directory here, or a server.
struct RepositoryLocation: ParsableArguments {
    @Option(help: "The data directory of a repository on this machine.")
    var data: String?

    @OptionGroup var databaseOptions: DatabaseOptions

    @Option(help: "The URL of an mClouds server, e.g. http://127.0.0.1:8080.")
    var server: String?

    @Option(help: "A file holding the token for changes through --server (or set MCLOUDS_TOKEN); never the token itself.")
    var tokenFile: String?

    @Option(help: "A PEM file of CA certificates to trust for an HTTPS --server, besides the system's (or set MCLOUDS_CA_BUNDLE).")
    var caBundle: String?

    func validate() throws {
        guard (data == nil) != (server == nil) else { throw ValidationError("Give either --data DIR or --server URL.") }
        try TokenSource.validate(file: tokenFile)
        if let server { try URLOption.validate(server, option: "--server") }
    }

    var resolvedToken: String? { TokenSource.read(file: tokenFile) }

    /// The repository of `--data`. Only a publish (`.creating`) may make the directory and its key; every other
    /// command needs an existing repository and changes nothing when there is none.
    func openLocal(_ opening: DataDirectory.Opening = .existing, keyPath: String? = nil, logger: Logger) async throws -> Repository {
        let directory = try databaseOptions.directory(data!)
        // A publish (or withdrawal) into the directory is refused while a server runs on it.
        if opening == .creating { try OfflineChange.hold(directory) }
        return try await directory.openRepository(opening, keyPath: keyPath, logger: logger) { key in
            Console.error("Created a publisher key in \(DataDirectory(data!).keyPath)")
            Console.error("Its public key (give it to readers as a trusted key): \(key.publicKey.base64)")
        }
    }

    var client: RepositoryClient {
        get throws { RepositoryClient(baseURL: server!, token: resolvedToken, httpClient: try ServerTrust.client(caBundle)) }
    }

    func templates(logger: Logger) async throws -> [TemplateSummary] {
        if server != nil { return try await client.templates().templates }
        return try await openLocal(logger: logger).templates()
    }

    func template(_ name: String, logger: Logger) async throws -> TemplateSummary {
        if server != nil { return try await client.template(name) }
        return try await openLocal(logger: logger).template(name)
    }

    func setState(_ state: VersionState, reference: String, logger: Logger) async throws -> Int {
        let (name, version) = try TemplateName.parseReference(reference)
        guard let version else { throw ValidationError("Name the version: NAME@VERSION.") }
        if server != nil { return try await client.setState(state, name: name, version: version).catalogSerial }
        return try await openLocal(logger: logger).setState(state, name: name, version: version)
    }
}

/// Runs a command body, printing the errors users can act on as one line and exiting 1.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as TemplateRepositoryError {
        Console.error("error: \(error)")
        throw ExitCode(1)
    } catch let error as RepositoryClientError {
        Console.error("error: \(error)")
        throw ExitCode(1)
    } catch let error as StorageError {
        Console.error("error: \(error)")
        throw ExitCode(1)
    } catch let error as FederationError {
        Console.error("error: \(error)")
        throw ExitCode(1)
    } catch let error as AccessError {
        Console.error("error: \(error)")
        throw ExitCode(1)
    } catch let error as APIError {
        Console.error("error: \(error)")
        throw ExitCode(1)
    } catch let error as BuilderError {
        Console.error("error: \(error)")
        throw ExitCode(1)
    }
}

/// The holds of offline changes, kept until the command's process ends.
enum OfflineChange {
    private static let holds = Mutex<[ServerHold]>([])

    /// Refuses (throws) while a server runs on `directory`; else keeps servers from starting on it until exit.
    static func hold(_ directory: DataDirectory) throws {
        if let hold = try ServerHold.offline(directory) { holds.withLock { $0.append(hold) } }
    }
}

func printJSON(_ value: some Encodable) throws {
    Console.line(try OrderedJSONEncoder().encode(value).serialized())
}

extension ImageFormat: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.uppercased()) }
}

extension Hypervisor: ExpressibleByArgument {
    public init?(argument: String) {
        guard let match = Hypervisor.allCases.first(where: { $0.rawValue.lowercased() == argument.lowercased() }) else { return nil }
        self = match
    }
}

extension TemplateCommand {
    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish an image as a new template version.",
            discussion: """
                With --data DIR the image is chunked into DIR and signed with DIR's publisher key (created on first use) or --key. \
                With --server URL only the chunks the server lacks are uploaded; the server signs. The image is checked against \
                --format first, and --os-type against CloudStack's guest OS names (docs/os-types.md).

                  mclouds template publish ubuntu.qcow2 --name ubuntu-22.04 --version 2026.11 \\
                      --format QCOW2 --hypervisor KVM --os-type "Ubuntu 22.04 LTS" \\
                      --data /var/lib/mclouds
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var location: RepositoryLocation

        @Argument(help: "The image file.") var file: String
        @Option(help: "Template name.") var name: String
        @Option(help: "Version (never reused).") var version: String
        @Option(help: "QCOW2, RAW, VHD or OVA.") var format: ImageFormat
        @Option(help: "KVM, XenServer, VMware or Hyperv.") var hypervisor: Hypervisor
        @Option(help: "CloudStack OS type name, e.g. \"Ubuntu 22.04 LTS\".") var osType: String
        @Option(help: "Display text (default: NAME VERSION).") var displayText: String?
        @Option(help: "Installed software, comma-separated.") var software: String?
        @Option(help: "Minimum CPUs.") var minCpus: Int?
        @Option(help: "Minimum memory in MB.") var minMemoryMb: Int?
        @Option(help: "End of support, yyyy-MM-ddTHH:mm:ssZ.") var expires: String?
        @Option(help: "Publisher key file (with --data; default: the data directory's own).") var key: String?
        @Flag(help: "Print the report as JSON.") var json = false

        func run() async throws {
            let logger = global.makeLogger(label: "mclouds.template")
            let metadata = TemplateMetadata(
                name: name, version: version, format: format, hypervisor: hypervisor, osType: osType, displayText: displayText,
                software: software.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [],
                minimumCPUs: minCpus, minimumMemoryMB: minMemoryMb, expires: expires)
            let size = ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int64) ?? 0
            let bar = ProgressBar(label: "chunking ", total: size)
            try await reportingErrors {
                // Checked before anything is opened, created or uploaded: a bad publish leaves nothing behind.
                try metadata.validate()
                try GuestOSTypes().check(metadata.osType)
                try ImageInspector.check(format: format, path: file)
                let report: PublishReport
                if location.server != nil {
                    report = try await RemotePublisher(client: location.client).publish(imageAt: file, metadata: metadata) { phase in
                        switch phase {
                        case .chunking(let done): bar.update(done)
                        case .uploading(let done, let total): bar.update(done, total: total, label: "uploading")
                        }
                    }
                } else {
                    let repository = try await location.openLocal(.creating, keyPath: key, logger: logger)
                    report = try await repository.publish(imageAt: file, metadata: metadata) { bar.update($0) }
                }
                bar.finish()
                if json { return try printJSON(report) }
                if report.alreadyPublished {
                    Console.line("\(report.name)@\(report.version) is already published with this image; nothing changed.")
                } else {
                    Console.line("Published \(report.name)@\(report.version) (catalog serial \(report.catalogSerial))")
                }
                Console.line("  size:    \(ByteCount.format(report.size)) in \(report.chunks) chunks")
                let share = report.size > 0 ? Double(report.newBytes) / Double(report.size) * 100 : 0
                Console.line(
                    "  new:     \(report.newChunks) chunks, \(ByteCount.format(report.newBytes)) (\(String(format: "%.1f", share)) % of the image)"
                )
                Console.line("  sha256:  \(report.sha256)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List templates and their latest versions.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var location: RepositoryLocation
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let logger = global.makeLogger(label: "mclouds.template")
            try await reportingErrors {
                let templates = try await location.templates(logger: logger)
                if json { return try printJSON(TemplateList(templates: templates)) }
                if templates.isEmpty { return Console.line("No templates yet. Publish one with `mclouds template publish`.") }
                var rows = [["NAME", "LATEST", "STATE", "SIZE", "VERSIONS", "PUBLISHED"]]
                for template in templates {
                    let latest = template.latest
                    rows.append([
                        template.name, latest?.version ?? "-", latest?.state.rawValue ?? "withdrawn", latest.map { ByteCount.format($0.size) } ?? "-",
                        "\(template.versions.filter { $0.state != .withdrawn }.count)", latest?.published ?? "-",
                    ])
                }
                Console.line(Table.render(rows))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a template's versions, or one version's manifest (NAME@VERSION).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var location: RepositoryLocation
        @Argument(help: "NAME or NAME@VERSION.") var reference: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let logger = global.makeLogger(label: "mclouds.template")
            try await reportingErrors {
                let (name, version) = try TemplateName.parseReference(reference)
                let template = try await location.template(name, logger: logger)
                if let version {
                    guard let info = template.versions.first(where: { $0.version == version }) else {
                        throw TemplateRepositoryError.notFound(name: name, version: version)
                    }
                    if json { return try printJSON(info) }
                    for (label, value) in [
                        ("name", info.name), ("version", info.version), ("state", info.state.rawValue), ("format", info.format),
                        ("hypervisor", info.hypervisor), ("os type", info.osType), ("display text", info.displayText),
                        ("size", "\(ByteCount.format(info.size)) (\(info.size) bytes)"), ("chunks", "\(info.chunks)"), ("sha256", info.sha256),
                        ("manifest", info.manifestDigest), ("published", info.published), ("changed", info.changed),
                    ] {
                        Console.line("\(label.padding(toLength: 13, withPad: " ", startingAt: 0)) \(value)")
                    }
                    return
                }
                if json { return try printJSON(template) }
                var rows = [["VERSION", "STATE", "FORMAT", "HYPERVISOR", "SIZE", "CHUNKS", "PUBLISHED"]]
                for v in template.versions {
                    rows.append([v.version, v.state.rawValue, v.format, v.hypervisor, ByteCount.format(v.size), "\(v.chunks)", v.published])
                }
                Console.line(template.name)
                Console.line(Table.render(rows))
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The rollout matrix: each template version's state at each site, as the site agents last reported.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The URL of the mClouds server.") var server: String
        @Flag(help: "Print JSON.") var json = false

        func validate() throws { try URLOption.validate(server, option: "--server") }

        func run() async throws {
            try await reportingErrors {
                let status = try await RepositoryClient(baseURL: server).rollout()
                if json { return try printJSON(status) }
                if status.states.isEmpty { return Console.line("No site has reported yet.") }
                Console.line(Table.render(RolloutMatrix.rows(status.states)))
            }
        }
    }

    /// The options and the run of `withdraw` and `deprecate`, which differ only in the state they set.
    struct StateChangeOptions: ParsableArguments {
        @OptionGroup var global: GlobalOptions
        @OptionGroup var location: RepositoryLocation
        @Argument(help: "NAME@VERSION.") var reference: String

        func change(to state: VersionState, done: String) async throws {
            let logger = global.makeLogger(label: "mclouds.template")
            try await reportingErrors {
                let serial = try await location.setState(state, reference: reference, logger: logger)
                Console.line("\(done) \(reference) (catalog serial \(serial)).")
            }
        }
    }

    struct Withdraw: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Withdraw a version: it leaves the catalog, and its chunks become garbage unless other versions share them.")
        @OptionGroup var options: StateChangeOptions
        func run() async throws { try await options.change(to: .withdrawn, done: "Withdrew") }
    }

    struct Deprecate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deprecate a version: it stays available, flagged in the catalog.")
        @OptionGroup var options: StateChangeOptions
        func run() async throws { try await options.change(to: .deprecated, done: "Deprecated") }
    }

    struct Access: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a template partner-only (its manifests and its own chunks need a token: licensed images) or public again.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The template's name.") var name: String
        @Flag(help: "Partner-only.") var partnerOnly = false
        @Flag(name: .customLong("public"), help: "Public again.") var makePublic = false

        func validate() throws {
            guard partnerOnly != makePublic else { throw ValidationError("Give --partner-only or --public.") }
        }

        func run() async throws {
            try await reportingErrors {
                let answer = try await connection.client.call(
                    .POST, "/api/v1/templates/\(name)/access", body: TemplateAccessRequest(partnerOnly: partnerOnly), as: TemplateAccessRequest.self)
                Console.line(
                    answer.partnerOnly
                        ? "\(name) is partner-only: its manifests and its own chunks are served with a token."
                        : "\(name) is public.")
            }
        }
    }

    struct GC: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Remove chunks no published or deprecated version references.",
            discussion: "Safe while publishes run: it waits for local publishes, and keeps chunks younger than --grace (uploads in flight).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The data directory.") var data: String
        @OptionGroup var databaseOptions: DatabaseOptions
        @Option(help: "Keep unreferenced chunks younger than this many seconds.") var grace: Int = 3600
        @Flag(help: "Only report what would be removed.") var dryRun = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let logger = global.makeLogger(label: "mclouds.template")
            try await reportingErrors {
                let repository = try await databaseOptions.directory(data).openRepository(.existing, logger: logger)
                let report = try await repository.collectGarbage(grace: TimeInterval(grace), dryRun: dryRun) {
                    Console.error("A publish is running; waiting for it to finish…")
                }
                if json { return try printJSON(report) }
                Console.line(
                    "\(dryRun ? "Would remove" : "Removed") \(report.removed) of \(report.stored) chunks (\(ByteCount.format(report.removedBytes))); "
                        + "\(report.live) referenced, \(report.keptRecent) unreferenced kept as younger than \(grace) s; "
                        + "\(report.staleTemporaries) temporary file\(report.staleTemporaries == 1 ? "" : "s") of interrupted writes \(dryRun ? "would be " : "")removed."
                )
            }
        }
    }
}

extension TemplateCommand {
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read and hash every stored chunk; with --repair, restore damaged ones from mirrors or remove them.",
            discussion: """
                A damaged chunk (a flipped bit on the repository's disk) would be served to every site, which refuses it. \
                --repair fetches it from a --mirror (verified first) or removes it: a removed chunk is uploaded again by the \
                next remote publish of an image that has it, and restored by a local publish of that image. Exit status 1 when a \
                damaged chunk is left unrepaired.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The data directory.") var data: String
        @OptionGroup var databaseOptions: DatabaseOptions
        @Flag(help: "Restore or remove damaged chunks.") var repair = false
        @Option(name: .customLong("mirror"), help: "A server or mirror to restore damaged chunks from (repeatable).") var mirrors: [String] = []
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            for mirror in mirrors { try URLOption.validate(mirror, option: "--mirror") }
        }

        func run() async throws {
            let logger = global.makeLogger(label: "mclouds.template")
            try await reportingErrors {
                let repository = try await databaseOptions.directory(data).openRepository(.existing, logger: logger)
                let terminal = Console.isErrorTerminal
                let report = try await repository.scrub(repair: repair, mirrors: mirrors) { checked in
                    if terminal { TerminalLine.draw("verifying: \(checked) chunks") }
                }
                if terminal { TerminalLine.finish("verified: \(report.checked) chunks") }
                if json {
                    try printJSON(report)
                } else {
                    Console.line(
                        "Checked \(report.checked) chunks (\(ByteCount.format(report.checkedBytes))): \(report.damaged.count) damaged"
                            + (repair ? ", \(report.repaired.count) restored from a mirror, \(report.removed.count) removed." : "."))
                    for digest in report.damaged.prefix(20) { Console.line("  damaged: \(digest)") }
                    if !report.affectedVersions.isEmpty {
                        Console.line(
                            "Versions no site can fetch whole until their image is published again: \(report.affectedVersions.joined(separator: ", "))"
                        )
                    }
                    if !repair && !report.damaged.isEmpty { Console.line("Run again with --repair (and --mirror URL where a copy exists).") }
                }
                if !report.isHealthy { throw ExitCode(1) }
            }
        }
    }
}

/// Plain text tables with aligned columns.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = (0..<first.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// The template × site matrix of rollout states.
enum RolloutMatrix {
    static func rows(_ states: [SiteTemplateState]) -> [[String]] {
        let sites = Array(Set(states.map(\.site))).sorted()
        var keys: [String] = []
        var cells: [String: [String: String]] = [:]
        for state in states {
            let key = "\(state.template)@\(state.version)"
            if cells[key] == nil { keys.append(key) }
            cells[key, default: [:]][state.site] = state.error == nil ? state.state : "\(state.state) (error)"
        }
        return [["TEMPLATE"] + sites] + keys.map { key in [key] + sites.map { cells[key]?[$0] ?? "-" } }
    }
}

/// The body and answer of `POST /api/v1/templates/{name}/access`.
struct TemplateAccessRequest: Codable {
    var partnerOnly: Bool
}
