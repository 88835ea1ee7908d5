import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Publisher keys on disk: the base64 of the 32-byte Ed25519 private key, readable by its owner only.
public enum KeyFile {
    /// Where a data directory keeps its publisher key.
    public static func defaultPath(dataDirectory: URL) -> String {
        dataDirectory.appendingPathComponent("keys/publisher.ed25519").path
    }

    /// Reads a key file.
    /// - Throws: ``TemplateRepositoryError`` `badKey` when it is missing or not a key.
    public static func load(path: String) throws -> PublisherKey {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TemplateRepositoryError.badKey(path: path, reason: "it cannot be read")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let raw = Data(base64Encoded: text), let key = try? PublisherKey(rawRepresentation: raw) else {
            throw TemplateRepositoryError.badKey(path: path, reason: "it does not hold a base64 Ed25519 private key")
        }
        return key
    }

    /// Writes a new key file (mode 0600) and its public key beside it (`.pub`); refuses to overwrite.
    /// - Throws: ``TemplateRepositoryError`` `badKey` when the file exists or cannot be written.
    public static func write(_ key: PublisherKey, path: String) throws {
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason =
                errno == EEXIST ? "it already exists; remove it first if you really mean to replace the key" : String(cString: strerror(errno))
            throw TemplateRepositoryError.badKey(path: path, reason: reason)
        }
        let text = Array((key.rawRepresentation.base64EncodedString() + "\n").utf8)
        let written = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == text.count, synced else {
            unlink(path)
            throw TemplateRepositoryError.badKey(path: path, reason: "it could not be written")
        }
        try? Data((key.publicKey.base64 + "\n").utf8).write(to: URL(fileURLWithPath: path + ".pub"))
    }

    /// The key at `path`, created there first when absent. `created` tells which happened.
    public static func loadOrCreate(path: String) throws -> (key: PublisherKey, created: Bool) {
        if FileManager.default.fileExists(atPath: path) { return (try load(path: path), false) }
        let key = PublisherKey()
        try write(key, path: path)
        return (key, true)
    }
}
