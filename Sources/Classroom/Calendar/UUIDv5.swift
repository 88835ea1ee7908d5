import Crypto
import Foundation

/// Name-based UUIDs (RFC 9562 version 5, SHA-1): the same name always gives the same UUID.
enum UUIDv5 {
    /// The namespace the names are made in (RFC 9562's URL namespace).
    static let mclouds = UUID(uuidString: "6ba7b811-9dad-11d1-80b4-00c04fd430c8")!

    static func make(namespace: UUID, name: String) -> String {
        var bytes = withUnsafeBytes(of: namespace.uuid) { Array($0) }
        bytes += Array(name.utf8)
        var digest = Array(Insecure.SHA1.hash(data: bytes)).prefix(16).map { $0 }
        digest[6] = (digest[6] & 0x0F) | 0x50
        digest[8] = (digest[8] & 0x3F) | 0x80
        let uuid = digest.withUnsafeBufferPointer { buffer -> uuid_t in
            (
                buffer[0], buffer[1], buffer[2], buffer[3], buffer[4], buffer[5], buffer[6], buffer[7], buffer[8], buffer[9], buffer[10],
                buffer[11], buffer[12], buffer[13], buffer[14], buffer[15]
            )
        }
        return UUID(uuid: uuid).uuidString.lowercased()
    }
}
