import Core
import Crypto
import Foundation
import _CryptoExtras

/// Apache Guacamole's encrypted JSON authentication (`guacamole-auth-json`): the data that logs a student straight
/// into their seat's connection on a campus Guacamole, made exactly as the extension expects it —
/// `base64(AES-128-CBC(key, IV = 0, PKCS#7)(HMAC-SHA256(key, json) ‖ json))` with the 128-bit `json-secret-key`.
///
/// Guacamole refuses data after its `expires` (milliseconds since 1970) and, with `singleUse`, a second use of
/// the same signed data (its in-memory denylist, keyed by signature). mClouds makes each blob on the student's
/// click, five minutes ahead and single-use, so a copied link is worth nothing after one login or five minutes.
public enum GuacamoleJSON {
    /// One connection the data grants.
    public struct Connection: Sendable, Hashable, Codable {
        public var name: String
        /// An identifier for sharing (`join`) in Guacamole.
        public var id: String
        public var protocolName: String
        public var parameters: [String: String]

        public init(name: String, id: String, protocolName: String, parameters: [String: String]) {
            self.name = name
            self.id = id
            self.protocolName = protocolName
            self.parameters = parameters
        }
    }

    /// How long made data stays valid.
    public static let lifetime: TimeInterval = 300

    /// The JSON document: `username`, `expires` (ms), `singleUse`, and `connections` by name.
    public static func payload(username: String, connections: [Connection], expires: Date, singleUse: Bool = true) -> Data {
        let byName: [(String, JSONValue)] = connections.map { connection in
            (
                connection.name,
                .object([
                    ("id", .string(connection.id)), ("protocol", .string(connection.protocolName)),
                    ("parameters", .object(connection.parameters.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
                ])
            )
        }
        let document: JSONValue = .object([
            ("username", .string(username)), ("expires", .int(Int64(expires.timeIntervalSince1970 * 1000))), ("singleUse", .bool(singleUse)),
            ("connections", .object(byName)),
        ])
        return Data(document.serializedBytes())
    }

    /// Signs and encrypts `json` under `key` (16 bytes): the base64 text for Guacamole's `data` parameter.
    public static func seal(_ json: Data, key: SymmetricKey) throws -> String {
        guard key.bitCount == 128 else { throw ClassroomError.invalid("a Guacamole json-secret-key is 128 bits (32 hex digits)") }
        let signature = Data(HMAC<SHA256>.authenticationCode(for: json, using: key))
        let sealed = try AES._CBC.encrypt(signature + json, using: key, iv: AES._CBC.IV(ivBytes: [UInt8](repeating: 0, count: 16)))
        return sealed.base64EncodedString()
    }

    /// The key from Guacamole's `json-secret-key` form (32 hex digits).
    /// - Throws: ``ClassroomError`` `invalid` for anything else.
    public static func key(hex: String) throws -> SymmetricKey {
        let text = hex.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard text.count == 32, let bytes = [UInt8](hex: text) else {
            throw ClassroomError.invalid("a Guacamole json-secret-key is 32 hex digits (e.g. from `openssl rand -hex 16`)")
        }
        return SymmetricKey(data: bytes)
    }

    /// The address that logs the student in: `data` on the gateway's URL (`https://gw.example/guacamole/`).
    public static func loginURL(gateway: String, data: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = data.addingPercentEncoding(withAllowedCharacters: allowed) ?? data
        let base = gateway.hasSuffix("/") ? gateway : gateway + "/"
        return "\(base)?data=\(encoded)"
    }

    /// The connection to a course's seat, named as people count seats (`EE-201 seat 4`), with the seat's path as id.
    public static func connection(to seat: Seat, of course: Course, access: SeatAccess, password: String) -> Connection? {
        connection(name: "\(course.code) seat \(seat.seat + 1)", id: seat.path, access: access, password: password)
    }

    /// The connection for a seat: SSH or RDP to its forwarded address with the seat's credentials.
    public static func connection(name: String, id: String, access: SeatAccess, password: String) -> Connection? {
        guard let address = access.address, let port = access.port else { return nil }
        var parameters = ["hostname": address, "port": String(port), "username": access.username, "password": password]
        if access.service == .rdp {
            parameters["ignore-cert"] = "true"
            parameters["security"] = "any"
        }
        return Connection(name: name, id: id, protocolName: access.service.rawValue, parameters: parameters)
    }
}
