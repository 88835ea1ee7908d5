import Foundation

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a /32 or /128).
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]
    public let prefix: Int

    /// - Returns: nil for text that is not an address or network.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let address = IPAddress.bytes(parts[0]) else { return nil }
        let maximum = address.count * 8
        let prefix = parts.count == 2 ? Int(parts[1]) : maximum
        guard let prefix, (0...maximum).contains(prefix) else { return nil }
        bytes = address
        self.prefix = prefix
    }

    /// Whether `address` (text, v4 or v6; an IPv4-mapped IPv6 address counts as its IPv4 one) is in the network.
    public func contains(_ address: String) -> Bool {
        guard var other = IPAddress.bytes(address) else { return false }
        if bytes.count == 4, other.count == 16, other[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF][...] { other = Array(other[12...]) }
        guard other.count == bytes.count else { return false }
        for bit in 0..<prefix where (bytes[bit / 8] >> (7 - bit % 8)) & 1 != (other[bit / 8] >> (7 - bit % 8)) & 1 { return false }
        return true
    }

    public var description: String { "\(IPAddress.text(bytes))/\(prefix)" }

    /// Whether this is an IPv6 network.
    public var isIPv6: Bool { bytes.count == 16 }

    /// The network with its host bits cleared (`10.1.2.3/16` → `10.1.0.0/16`).
    public var network: CIDR {
        var masked = bytes
        for bit in prefix..<(bytes.count * 8) { masked[bit / 8] &= ~(UInt8(0x80) >> UInt8(bit % 8)) }
        return CIDR(bytes: masked, prefix: prefix)
    }

    /// Whether `other` lies wholly inside this network.
    public func covers(_ other: CIDR) -> Bool {
        other.bytes.count == bytes.count && other.prefix >= prefix && contains(IPAddress.text(other.bytes))
    }

    /// The canonical text: the network address, and the prefix unless it is a single address.
    public var canonical: String {
        let network = network
        return prefix == bytes.count * 8 ? IPAddress.text(network.bytes) : network.description
    }

    private init(bytes: [UInt8], prefix: Int) {
        self.bytes = bytes
        self.prefix = prefix
    }

    /// `networks` without those inside another one, canonical and sorted (what an interval set accepts).
    public static func minimal(_ networks: [CIDR]) -> [CIDR] {
        let canonical = Set(networks.map(\.network))
        return canonical.filter { candidate in !canonical.contains { $0 != candidate && $0.covers(candidate) } }
            .sorted { a, b in
                if a.bytes.count != b.bytes.count { return a.bytes.count < b.bytes.count }
                if a.bytes != b.bytes { return a.bytes.lexicographicallyPrecedes(b.bytes) }
                return a.prefix < b.prefix
            }
    }
}

/// Address text to bytes and back, without the C library (pure, for the policy).
public enum IPAddress {
    public static func bytes(_ text: String) -> [UInt8]? {
        if text.contains(":") { return v6(text) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let value = UInt8(part) else { return nil }
            out.append(value)
        }
        return out
    }

    private static func v6(_ text: String) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1, piece.contains("."), let v4 = bytes(String(piece)) {
                    out += [UInt16(v4[0]) << 8 | UInt16(v4[1]), UInt16(v4[2]) << 8 | UInt16(v4[3])]
                } else {
                    guard (1...4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                    out.append(value)
                }
            }
            return out
        }
        guard let head = groups(halves[0]), let tail = halves.count == 2 ? groups(halves[1]) : [] else { return nil }
        let all: [UInt16]
        if halves.count == 2 {
            guard head.count + tail.count < 8 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
            all = head
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    public static func text(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}
