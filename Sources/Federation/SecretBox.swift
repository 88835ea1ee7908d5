import Crypto
import Foundation

/// Encrypts the secrets the registry keeps (AES-256-GCM under a key in a file of its own, mode 0600, made
/// on first use). A database copied without the key file gives nothing away; the key file alone holds no
/// secret.
public struct SecretBox: Sendable {
    private let keyBytes: [UInt8]?
    private let keyPath: String

    private func key() throws -> SymmetricKey {
        guard let keyBytes else {
            throw FederationError(
                .secret, "There is no secrets key at \(keyPath), so no stored secret can be used: restore it from backup, or add the regions again.")
        }
        return SymmetricKey(data: keyBytes)
    }

    public init(key: SymmetricKey) {
        keyBytes = key.withUnsafeBytes { Array($0) }
        keyPath = "(in memory)"
    }

    private init(keyBytes: [UInt8]?, path: String) {
        self.keyBytes = keyBytes
        keyPath = path
    }

    /// Loads the key at `path`. When absent, it is created (with its folder) if `create` is true and `onCreate` is told;
    /// otherwise the box opens nothing and seals nothing (reads that need no secret still work).
    /// - Throws: ``FederationError`` `secret` when the file is unreadable or not a 32-byte key.
    public static func open(keyFile path: String, create: Bool = true, onCreate: (String) -> Void = { _ in }) throws -> SecretBox {
        let url = URL(fileURLWithPath: path)
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == 32 else {
                throw FederationError(.secret, "\(path) is not a secrets key (32 bytes expected, \(data.count) found). Restore it from backup.")
            }
            return SecretBox(keyBytes: Array(data), path: path)
        }
        guard create else { return SecretBox(keyBytes: nil, path: path) }
        let key = SymmetricKey(size: .bits256)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let bytes = key.withUnsafeBytes { Data($0) }
            guard FileManager.default.createFile(atPath: path, contents: bytes, attributes: [.posixPermissions: 0o600]) else {
                throw CocoaError(.fileWriteUnknown)
            }
        } catch {
            throw FederationError(.secret, "Cannot create the secrets key \(path): \(error). Check the data directory's permissions.")
        }
        onCreate(path)
        return SecretBox(keyBytes: key.withUnsafeBytes { Array($0) }, path: path)
    }

    /// `base64(nonce ‖ ciphertext ‖ tag)`.
    public func seal(_ secret: String) throws -> String {
        do {
            return try AES.GCM.seal(Data(secret.utf8), using: key()).combined!.base64EncodedString()
        } catch let error as FederationError {
            throw error
        } catch {
            throw FederationError(.secret, "Cannot encrypt a secret: \(error).")
        }
    }

    /// - Throws: ``FederationError`` `secret` when the text was sealed under another key or altered.
    public func open(_ sealed: String) throws -> String {
        let key = try key()
        guard let data = Data(base64Encoded: sealed), let box = try? AES.GCM.SealedBox(combined: data),
            let plain = try? AES.GCM.open(box, using: key)
        else {
            throw FederationError(
                .secret, "A stored secret cannot be decrypted: the secrets key file is not the one it was stored with. Restore the key file.")
        }
        return String(decoding: plain, as: UTF8.self)
    }
}
