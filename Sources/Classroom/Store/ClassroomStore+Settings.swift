import Foundation
import SQLKit
import Storage

/// The campus Apache Guacamole gateway students may be sent through: its URL and its `json-secret-key`, sealed.
public struct GuacamoleGateway: Sendable, Hashable, Codable {
    /// The gateway's address (`https://gw.uni.example/guacamole/`).
    public var url: String
    /// The 128-bit key as 32 hex digits, sealed with the server's secrets key.
    public var sealedKey: String

    public init(url: String, sealedKey: String) {
        self.url = url
        self.sealedKey = sealedKey
    }
}

extension ClassroomStore {
    static let guacamoleSetting = "guacamole"

    /// The configured Guacamole gateway, if any.
    public func guacamole() async throws -> GuacamoleGateway? {
        let text = try await database.withDatabase { db in
            try await db.raw("SELECT value FROM classroom_settings WHERE name = \(bind: Self.guacamoleSetting)").first(
                decodingColumn: "value", as: String.self)
        }
        return try text.map { try JSONDecoder().decode(GuacamoleGateway.self, from: Data($0.utf8)) }
    }

    /// Sets (or, with nil, removes) the Guacamole gateway.
    /// - Throws: ``ClassroomError`` `invalid` for a URL that is not http(s).
    public func setGuacamole(_ gateway: GuacamoleGateway?) async throws {
        if let gateway {
            guard let url = URL(string: gateway.url), ["https", "http"].contains(url.scheme ?? ""), url.host != nil else {
                throw ClassroomError.invalid("the Guacamole URL must be an http(s) address such as https://gw.uni.example/guacamole/")
            }
        }
        let text = try gateway.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await database.transaction { db in
            try await db.raw("DELETE FROM classroom_settings WHERE name = \(bind: Self.guacamoleSetting)").run()
            if let text {
                try await db.raw("INSERT INTO classroom_settings (name, value) VALUES (\(bind: Self.guacamoleSetting), \(bind: text))").run()
            }
        }
    }
}
