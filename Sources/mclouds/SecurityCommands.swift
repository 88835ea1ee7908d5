import ArgumentParser
import CloudStack
import Core
import Federation
import Foundation
import Logging
import NIOHTTP1
import Server
import TemplateRepository

/// `mclouds security firewall`: the IP locks between the partners' networks, from the registry.
struct SecurityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "security", abstract: "The federation's network locks.", subcommands: [Firewall.self])

    struct Firewall: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Generate (and with --apply, set) the rules that lock the management endpoints and the central service to the partners' networks.",
            discussion: """
                nftables: a ruleset for one host — the central service (--for central: every partner network may reach \
                its ports) or a region's management server (--for ID: the central service and that partner's networks \
                may reach its API port). Apply it there with `nft -f FILE`.

                cloudstack: per region, the CloudStack settings that admit the federation account's API keys from the \
                central service and the partner's own networks only (api.allowed.source.cidr.list on the account, \
                api.source.cidr.checks.enabled), and firewall rules on the region's public IPs tagged \
                mclouds-lock=PORTS (e.g. `createTags resourcetype=PublicIpAddress tags[0].key=mclouds-lock tags[0].value=443`): \
                one rule per port admitting the same sources, replacing single-port rules that admit more; a wider \
                rule someone else made is reported, not changed. --apply sets all of it through each region's API.

                The partners' networks are the regions' --network entries (`mclouds region update ID --network CIDR`).
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "nftables or cloudstack.") var format: String
        @Option(name: .customLong("for"), help: "central, or a region id (nftables).") var target = "central"
        @Option(help: ArgumentHelp("The central service's address or network (repeatable).", valueName: "cidr")) var central: [String] = []
        @Option(help: "The central service's ports (repeatable; default 443).") var port: [Int] = []
        @Option(help: "Only this region (cloudstack).") var region: Int?
        @Flag(help: "Set the CloudStack settings through each region's API (needs --data: the regions' keys).") var apply = false
        @Option(help: "An mClouds server to read the registry from (with an admin token).") var server: String?
        @Option(help: "A file holding the token for --server (or set MCLOUDS_TOKEN).") var tokenFile: String?
        @Option(help: "A PEM file of CA certificates to trust for an HTTPS --server (or set MCLOUDS_CA_BUNDLE).") var caBundle: String?
        @Option(help: "The server's data directory (to read the registry, and the keys for --apply).") var data: String?
        @OptionGroup var databaseOptions: DatabaseOptions

        func validate() throws {
            guard ["nftables", "cloudstack"].contains(format) else {
                throw ValidationError("--format must be nftables or cloudstack (got \(format)).")
            }
            guard (data == nil) != (server == nil) else { throw ValidationError("Give either --server URL (with a token) or --data DIR.") }
            if apply && (format != "cloudstack" || data == nil) {
                throw ValidationError("--apply sets the CloudStack settings: give --format cloudstack and --data DIR (the regions' keys).")
            }
            for text in central where CIDR(text) == nil { throw ValidationError("--central \(text) is not an address or network.") }
            if target != "central" && Int(target) == nil { throw ValidationError("--for must be central or a region id (got \(target)).") }
        }

        func run() async throws {
            let logger = global.makeLogger(label: "mclouds.security")
            try await reportingErrors {
                var registry: RegionRegistry?
                if let data { registry = try await databaseOptions.directory(data).openRegistry(.existing, logger: logger) }
                let regions: [FederationRegion]
                if let registry {
                    regions = try await registry.list()
                } else {
                    let client = RepositoryClient(
                        baseURL: server!, token: TokenSource.read(file: tokenFile), httpClient: try ServerTrust.client(caBundle))
                    regions = try await client.call(.GET, "/api/v1/regions", as: [FederationRegion].self)
                }
                let plan = FirewallPlan(regions: regions, central: central.compactMap(CIDR.init))
                if format == "nftables" {
                    let target: FirewallPlan.Target = Int(self.target).map { .region($0) } ?? .central(ports: port.isEmpty ? [443] : port)
                    StandardStream.output(try plan.nftables(for: target))
                    return
                }
                guard !central.isEmpty else {
                    throw CLIError("Give the central service's addresses (--central CIDR): without them the regions would refuse mClouds itself.")
                }
                let settings = try plan.cloudStackSettings().filter { region == nil || $0.region == region }
                if let region, settings.isEmpty {
                    throw CLIError("No region \(region) in the registry: `mclouds region list` shows the registered ones.")
                }
                for setting in settings {
                    Console.line("# region \(setting.region) \(setting.name) (\(setting.endpoint))")
                    Console.line("updateConfiguration name=api.source.cidr.checks.enabled value=true")
                    Console.line(
                        "updateConfiguration name=api.allowed.source.cidr.list value=\(setting.allowedCIDRs) accountid=<the federation account>")
                    Console.line(
                        "# public IPs tagged \(FirewallPlan.lockTag)=PORTS: createFirewallRule protocol=tcp startport=PORT cidrlist=<these, IPv4> (with --apply)"
                    )
                }
                guard apply, let registry else { return }
                var failed = 0
                for setting in settings {
                    do {
                        let account = try await Self.apply(setting, registry: registry, logger: logger)
                        Console.line("Applied to region \(setting.region) \(setting.name) (account \(account)).")
                        let locks = try await Self.lockPublicIPs(setting, plan: plan, registry: registry, logger: logger)
                        for lock in locks {
                            Console.line(
                                "  public IP \(lock.address): tcp \(lock.ports.map(String.init).joined(separator: ",")) from \(lock.cidrList) — "
                                    + "\(lock.create.count) rules created, \(lock.delete.count) wider ones removed")
                            for conflict in lock.conflicts {
                                Console.error("warning: region \(setting.region) public IP \(lock.address): \(conflict); narrow or remove it by hand")
                            }
                            if !lock.conflicts.isEmpty { failed += 1 }
                        }
                    } catch {
                        failed += 1
                        Console.error("error: region \(setting.region) \(setting.name): \(error)")
                    }
                }
                if failed > 0 { throw ExitCode(1) }
            }
        }

        /// Locks the region's public IPs tagged `mclouds-lock`: the new rules first, then the rules they replace (so the
        /// service is never cut off halfway). Returns each IP's plan as it was carried out.
        static func lockPublicIPs(
            _ setting: FirewallPlan.CloudStackSetting, plan: FirewallPlan, registry: RegionRegistry, logger: Logger
        ) async throws -> [FirewallPlan.PublicIPLock] {
            let client = try await Self.client(setting, registry: registry, logger: logger)
            var locks: [FirewallPlan.PublicIPLock] = []
            for ip in try await client.listPublicIpAddresses(logger: logger) {
                guard let id = ip.id, ip.tags?.contains(where: { $0.key == FirewallPlan.lockTag }) == true else { continue }
                let rules = try await client.listFirewallRules(ipAddressID: id, logger: logger)
                guard let lock = try plan.publicIPLock(region: setting.region, ip: ip, rules: rules) else { continue }
                let cidrs = lock.cidrList.split(separator: ",").map(String.init)
                for port in lock.create {
                    _ = try await client.createFirewallRule(ipAddressID: id, startPort: port, endPort: port, cidrList: cidrs, logger: logger)
                }
                for rule in lock.delete { try await client.deleteFirewallRule(id: rule, logger: logger) }
                locks.append(lock)
            }
            return locks
        }

        /// A client of the region with the registry's keys.
        static func client(_ setting: FirewallPlan.CloudStackSetting, registry: RegionRegistry, logger: Logger) async throws -> CloudStackClient {
            let keys = try await registry.credentials(setting.region)
            let region = try await registry.region(String(setting.region))
            return CloudStackClient(
                configuration: .init(endpoint: setting.endpoint, apiKey: keys.apiKey, secretKey: keys.secretKey, region: setting.name),
                httpClient: try region.apiHTTPClient(logger: logger))
        }

        /// Sets the lock on one region: the account of the registry's API key, then the global switch.
        static func apply(_ setting: FirewallPlan.CloudStackSetting, registry: RegionRegistry, logger: Logger) async throws -> String {
            let keys = try await registry.credentials(setting.region)
            let client = try await Self.client(setting, registry: registry, logger: logger)
            let users = try await client.list("listUsers", ["listall": "true"], as: JSONValue.self, logger: logger)
            guard let user = users.first(where: { $0["apikey"]?.stringValue == keys.apiKey }), let account = user["accountid"]?.stringValue else {
                throw CLIError(
                    "The registry's API key is not among the region's users: `mclouds region update \(setting.region)` with the right key.")
            }
            // The account's list first (it admits the central service), then the checks on.
            _ = try await client.call(
                "updateConfiguration", ["name": "api.allowed.source.cidr.list", "value": setting.allowedCIDRs, "accountid": account], logger: logger)
            _ = try await client.call("updateConfiguration", ["name": "api.source.cidr.checks.enabled", "value": "true"], logger: logger)
            return account
        }
    }
}
