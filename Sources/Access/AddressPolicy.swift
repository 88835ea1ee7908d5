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
        /// Students' pages and their API: their seats and the way onto them (`/my/…`, `/api/v1/my/…`), which
        /// partners often open to their campus networks only.
        case students
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
    ///
    /// RFC 7239's `Forwarded` (`for=192.0.2.60;proto=https, for="[2001:db8::17]:4711"`), when given, is read
    /// instead of `X-Forwarded-For`.
    public func client(peer: String, forwardedFor: String?, forwarded: String? = nil) -> String {
        guard trustedProxies.contains(where: { $0.contains(peer) }) else { return peer }
        let hops: [String]
        if let forwarded {
            hops = Self.forwardedHops(forwarded)
        } else if let forwardedFor {
            hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { IPAddress.bytes($0) != nil }
        } else {
            return peer
        }
        return hops.reversed().first { hop in !trustedProxies.contains { $0.contains(hop) } } ?? hops.first ?? peer
    }

    /// The `for=` addresses of a `Forwarded` header, in order (quotes, brackets and ports taken off; obfuscated
    /// identifiers and `unknown` left out).
    static func forwardedHops(_ header: String) -> [String] {
        header.split(separator: ",").compactMap { element in
            for pair in element.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, parts[0].lowercased() == "for" else { continue }
                var value = parts[1]
                if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                if value.hasPrefix("[") {
                    // [v6] or [v6]:port
                    guard let close = value.firstIndex(of: "]") else { return nil }
                    value = String(value[value.index(after: value.startIndex)..<close])
                } else if value.filter({ $0 == ":" }).count == 1 {
                    value = String(value.split(separator: ":")[0])  // v4:port
                }
                return IPAddress.bytes(value) != nil ? value : nil
            }
            return nil
        }
    }

    /// Whether `address` may reach routes of `group`.
    public func admits(_ address: String, to group: Group) -> Bool {
        guard let networks = allow[group] else { return true }
        return networks.contains { $0.contains(address) }
    }
}
