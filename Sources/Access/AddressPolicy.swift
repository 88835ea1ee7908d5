import Core
import Foundation

/// Which callers' addresses may reach which group of routes (IP locks between partner networks), and which peers
/// are proxies whose `X-Forwarded-For` is believed.
public struct AddressPolicy: Sendable, Hashable {
    /// The groups of routes an allowlist applies to.
    public enum Group: String, Sendable, Hashable, CaseIterable, Codable {
        /// Changes and admin reads (tokens, audit, the registry, publishing).
        case admin
        /// Site agents' reports.
        case agent
        /// The signed catalog, manifests, template lists and chunks.
        case downloads
        /// The web dashboard, its JSON and `/metrics`.
        case web
        /// The web login, logout and account pages.
        case login
    }

    /// Per group, the networks admitted; a group without a list admits every address.
    public var allow: [Group: [CIDR]]
    /// Peers whose `X-Forwarded-For` names the client (a load balancer); from anyone else it is ignored.
    public var trustedProxies: [CIDR]

    public init(allow: [Group: [CIDR]] = [:], trustedProxies: [CIDR] = []) {
        self.allow = allow
        self.trustedProxies = trustedProxies
    }

    /// The client's address: the peer's, or — when the peer is a trusted proxy — the last address of
    /// `X-Forwarded-For` that is not itself a trusted proxy.
    public func client(peer: String, forwardedFor: String?) -> String {
        guard let forwardedFor, trustedProxies.contains(where: { $0.contains(peer) }) else { return peer }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { IPAddress.bytes($0) != nil }
        return hops.reversed().first { hop in !trustedProxies.contains { $0.contains(hop) } } ?? hops.first ?? peer
    }

    /// Whether `address` may reach routes of `group`.
    public func admits(_ address: String, to group: Group) -> Bool {
        guard let networks = allow[group] else { return true }
        return networks.contains { $0.contains(address) }
    }
}
