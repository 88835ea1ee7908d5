import Core
import Foundation

/// The IP locks between the partners' networks, drawn from the registry (pure): which sources may reach the
/// central service, and which may reach each partner's CloudStack management API — as an nftables ruleset for
/// a host, and as the CloudStack settings that lock the federation account's API keys to those sources.
///
/// ```swift
/// let plan = FirewallPlan(regions: registry.list(), central: [CIDR("192.0.2.10")!])
/// print(try plan.nftables(for: .region(6)))
/// ```
public struct FirewallPlan: Sendable {
    /// Whose host the rules are for.
    public enum Target: Sendable, Hashable {
        /// The central service (these ports; every partner network may reach them).
        case central(ports: [Int])
        /// One region's management server (the port of its endpoint; the central service and that partner's networks).
        case region(Int)
    }

    /// What one region's CloudStack is told: `api.allowed.source.cidr.list` for the federation account.
    public struct CloudStackSetting: Sendable, Hashable, Codable {
        public var region: Int
        public var name: String
        public var endpoint: String
        /// The CIDRs, comma-separated, as CloudStack's setting takes them.
        public var allowedCIDRs: String
    }

    public let regions: [FederationRegion]
    /// The central service's own addresses (its servers, or its NAT's public address).
    public let central: [CIDR]

    public init(regions: [FederationRegion], central: [CIDR]) {
        self.regions = regions.sorted { $0.id < $1.id }
        self.central = central
    }

    /// The sources `target` admits, minimal and canonical.
    /// - Throws: ``FederationError`` `notFound` for an unknown region; `invalid` when nothing would be admitted.
    public func sources(for target: Target) throws -> [CIDR] {
        let networks: [CIDR]
        switch target {
        case .central:
            networks = regions.flatMap { $0.networks.compactMap(CIDR.init) }
        case .region(let id):
            guard let region = regions.first(where: { $0.id == id }) else { throw FederationError.notFound(id) }
            networks = central + region.networks.compactMap(CIDR.init)
        }
        guard !networks.isEmpty else {
            throw FederationError(
                .invalid,
                "No network would be admitted: register the partners' networks (`mclouds region update ID --network CIDR`) and give the central service's addresses (--central CIDR)."
            )
        }
        return CIDR.minimal(networks)
    }

    /// The TCP ports `target` locks.
    public func ports(for target: Target) throws -> [Int] {
        switch target {
        case .central(let ports): return ports
        case .region(let id):
            guard let region = regions.first(where: { $0.id == id }) else { throw FederationError.notFound(id) }
            guard let url = URL(string: region.endpoint) else { return [443] }
            return [url.port ?? (url.scheme?.lowercased() == "http" ? 80 : 443)]
        }
    }

    /// An nftables ruleset for the host of `target`: its table replaced whole (`nft -f` applies it atomically),
    /// the locked ports admitted from the listed sources and loopback, dropped (and counted) from anywhere else;
    /// other traffic is left to the host's own rules.
    public func nftables(for target: Target, generated: Date = Date()) throws -> String {
        let sources = try sources(for: target)
        let ports = try ports(for: target).map(String.init).joined(separator: ", ")
        let what =
            switch target {
            case .central: "the mClouds central service"
            case .region(let id): "the management API of region \(id) \(regions.first { $0.id == id }?.name ?? "")"
            }
        func set(_ name: String, _ type: String, _ members: [CIDR]) -> String {
            let elements = members.isEmpty ? "" : "\n        elements = { \(members.map(\.canonical).joined(separator: ", ")) }"
            return "    set \(name) {\n        type \(type)\n        flags interval\(elements)\n    }\n"
        }
        return """
            #!/usr/sbin/nft -f
            # IP locks for \(what), from the mClouds registry (\(Timestamps.string(from: generated))).
            # Apply with `nft -f FILE`; generated again with `mclouds security firewall`.
            table inet mclouds_locks
            delete table inet mclouds_locks
            table inet mclouds_locks {
            \(set("allowed_v4", "ipv4_addr", sources.filter { !$0.isIPv6 }))\(set("allowed_v6", "ipv6_addr", sources.filter(\.isIPv6)))
                chain input {
                    type filter hook input priority filter - 10; policy accept;
                    tcp dport != { \(ports) } accept
                    iifname "lo" accept
                    ip saddr @allowed_v4 accept
                    ip6 saddr @allowed_v6 accept
                    counter drop comment "mclouds: not a partner network"
                }
            }

            """
    }

    /// Per region: the federation account's API keys admitted from the central service and the partner's own
    /// networks only (`api.allowed.source.cidr.list`, with `api.source.cidr.checks.enabled`).
    public func cloudStackSettings() throws -> [CloudStackSetting] {
        try regions.map { region in
            CloudStackSetting(
                region: region.id, name: region.name, endpoint: region.endpoint,
                allowedCIDRs: try sources(for: .region(region.id)).map(\.description).joined(separator: ","))
        }
    }
}
