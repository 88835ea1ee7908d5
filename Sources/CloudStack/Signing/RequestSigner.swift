import Crypto
import Foundation

/// Signs and verifies CloudStack API requests exactly as the management server does
/// (`ApiServer.verifyRequest`): parameters sorted by raw name, values encoded like Java's
/// `URLEncoder` with `+` turned into `%20`, the whole string lower-cased, HMAC-SHA1, base64.
///
/// ```swift
/// let signature = RequestSigner.signature(for: ["command": "listZones", "apiKey": key, "response": "json"], secretKey: secret)
/// ```
public enum RequestSigner {
    /// The characters Java's `URLEncoder` leaves as they are.
    private static let unreserved: Set<UInt8> = {
        var set = Set<UInt8>()
        for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { set.insert(c) }
        for c in UInt8(ascii: "a")...UInt8(ascii: "z") { set.insert(c) }
        for c in UInt8(ascii: "0")...UInt8(ascii: "9") { set.insert(c) }
        for c in ".-*_".utf8 { set.insert(c) }
        return set
    }()

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// Encodes a value as `URLEncoder.encode(value, "UTF-8").replaceAll("\\+", "%20")` does:
    /// `~` becomes `%7E`, `*` stays, space becomes `%20`, every other byte `%XX` in upper-case hex.
    public static func javaURLEncode(_ value: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(value.utf8.count * 3)
        for byte in value.utf8 {
            if unreserved.contains(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The string the server signs: every parameter but `signature` (any case), sorted by raw name
    /// in UTF-16 order, `name=encoded(value)` joined with `&`, then lower-cased.
    /// - Parameter sortLowercasedNames: sort by lower-cased names instead, as libcloud and cloudmonkey 5 do.
    public static func stringToSign(_ parameters: [String: String], sortLowercasedNames: Bool = false) -> String {
        let names = parameters.keys.filter { $0.lowercased() != "signature" }
        let sorted =
            sortLowercasedNames
            ? names.sorted { $0.lowercased().utf16.lexicographicallyPrecedes($1.lowercased().utf16) }
            : names.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }
        return sorted.map { "\($0)=\(javaURLEncode(parameters[$0]!))" }.joined(separator: "&").lowercased()
    }

    /// The base64 HMAC-SHA1 signature of `parameters` under `secretKey`.
    public static func signature(for parameters: [String: String], secretKey: String, sortLowercasedNames: Bool = false) -> String {
        let message = stringToSign(parameters, sortLowercasedNames: sortLowercasedNames)
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: Data(secretKey.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// Whether `signature` is the right one for `parameters`, compared in constant time.
    /// Accepts the server's raw-name order and, for older clients, lower-cased-name order.
    public static func isValid(signature: String, for parameters: [String: String], secretKey: String) -> Bool {
        if constantTimeEquals(signature, Self.signature(for: parameters, secretKey: secretKey)) { return true }
        return constantTimeEquals(signature, Self.signature(for: parameters, secretKey: secretKey, sortLowercasedNames: true))
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
