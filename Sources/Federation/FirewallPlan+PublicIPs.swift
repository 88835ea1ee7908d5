import CloudStack
import Core
import Foundation

extension FirewallPlan {
    /// The resource tag that marks a partner's public IP for locking (a service of the federation behind it — an
    /// agent's image endpoint, a gateway): its value lists the TCP ports, e.g. `443` or `443,8443`.
    public static let lockTag = "mclouds-lock"

    /// What locking one public IP takes: a firewall rule per locked port admitting exactly the central service and
    /// the partner's networks (IPv4: CloudStack's firewall rules on public IPs are IPv4), the rules it replaces, and
    /// the rules left alone that still open a locked port wider (a port range someone else made: fix them by hand).
    public struct PublicIPLock: Sendable, Hashable, Codable {
        public var ipAddressID: String
        public var address: String
        public var ports: [Int]
        /// The sources admitted, canonical, joined by `,` (CloudStack's `cidrlist`).
        public var cidrList: String
        /// Ports without a rule of exactly these sources: a rule is created for each.
        public var create: [Int]
        /// Rules for exactly one locked port admitting sources outside the lock: deleted once the new rules stand.
        public var delete: [String]
        /// Rules covering a locked port among others and admitting sources outside the lock: reported, not changed.
        public var conflicts: [String]

        /// True when the IP is locked as planned.
        public var isLocked: Bool { create.isEmpty && delete.isEmpty && conflicts.isEmpty }
    }

    /// The lock of `ip` in region `region`, from its `mclouds-lock` tag and its current firewall rules (nil: not tagged).
    /// - Throws: ``FederationError`` `invalid` for a tag value that is not a list of ports, or a partner without IPv4
    ///   networks; `notFound` for an unknown region.
    public func publicIPLock(region: Int, ip: PublicIpAddress, rules: [FirewallRule]) throws -> PublicIPLock? {
        guard let id = ip.id, let tag = ip.tags?.first(where: { $0.key == Self.lockTag }) else { return nil }
        let address = ip.ipaddress ?? id
        let words = (tag.value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let ports = words.compactMap { Int($0) }.filter { (1...65535).contains($0) }
        guard !words.isEmpty, ports.count == words.count else {
            throw FederationError(
                .invalid,
                "Public IP \(address) has \(Self.lockTag)=\(tag.value ?? "") in region \(region): the value lists TCP ports, e.g. 443 or 443,8443.")
        }
        let sources = try self.sources(for: .region(region)).filter { !$0.isIPv6 }
        guard !sources.isEmpty else {
            throw FederationError(
                .invalid,
                "Region \(region) has no IPv4 network to admit to public IP \(address): CloudStack's firewall rules on public IPs are IPv4 (`mclouds region update \(region) --network CIDR`)."
            )
        }
        let cidrList = sources.map(\.description).joined(separator: ",")
        let wanted = Set(sources)
        func sourcesOf(_ rule: FirewallRule) -> Set<CIDR> {
            Set((rule.cidrlist ?? "0.0.0.0/0").split(separator: ",").compactMap { CIDR(String($0).trimmingCharacters(in: .whitespaces))?.network })
        }
        func covers(_ rule: FirewallRule, _ port: Int) -> Bool {
            guard let proto = rule.protocolName?.lowercased(), proto == "tcp" || proto == "all" else { return false }
            guard let start = rule.startport else { return true }
            return (start...(rule.endport ?? start)).contains(port)
        }
        var create: [Int] = []
        var delete: [String] = []
        var conflicts: [String] = []
        let ours = rules.filter { $0.ipaddressid == nil || $0.ipaddressid == id }
        for port in Array(Set(ports)).sorted() {
            let covering = ours.filter { covers($0, port) }
            let exact = covering.filter { $0.protocolName?.lowercased() == "tcp" && $0.startport == port && ($0.endport ?? port) == port }
            if !exact.contains(where: { sourcesOf($0) == wanted }) { create.append(port) }
            // A rule admitting any source outside the lock's opens the port wider than the lock.
            for rule in covering where !sourcesOf(rule).allSatisfy({ source in wanted.contains { $0.covers(source) } }) {
                if exact.contains(rule) {
                    if let ruleID = rule.id { delete.append(ruleID) }
                } else {
                    let range = rule.startport.map { "\($0)-\(rule.endport ?? $0)" } ?? "all ports"
                    conflicts.append(
                        "rule \(rule.id ?? "?") (\(rule.protocolName ?? "?") \(range) from \(rule.cidrlist ?? "0.0.0.0/0")) opens locked port \(port)"
                    )
                }
            }
        }
        return PublicIPLock(
            ipAddressID: id, address: address, ports: Array(Set(ports)).sorted(), cidrList: cidrList, create: create,
            delete: Array(Set(delete)).sorted(), conflicts: Array(Set(conflicts)).sorted())
    }
}
