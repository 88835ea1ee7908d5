import Core
import Crypto
import Foundation
import Synchronization

/// Encrypts the secrets the registry keeps (AES-256-GCM) under a master key kept apart from the data: a key file
/// (mode 0600, made on first use) or `MCLOUDS_SECRETS_KEY`. A database copied without the key gives nothing away;
/// the key alone holds no secret.
///
/// The key file is a key ring: the first key seals, every key opens, and each sealed text names its key
/// (`mcs1:KEYID:…`). ``rotate(keyFile:)`` puts a new key first; running servers see the changed file at their
/// next use and go on opening what the old key sealed, so secrets are re-sealed (``RegionRegistry/reseal()``)
/// and the old key retired (``retire(keyFile:)``) without a restart. A file of 32 raw bytes (the format before
/// key rings) is one key; texts sealed before key ids are opened by trying each key.
public final class SecretBox: Sendable {
    struct Key: Sendable, Equatable {
        var bytes: [UInt8]
        /// The first 8 bytes of SHA-256 of the key, hex: names the key, tells nothing of it.
        var id: String { Array(SHA256.hash(data: bytes).prefix(8)).hexString }
    }

    private enum Source: Sendable {
        case file(String)
        case fixed([Key], origin: String)
    }

    private struct Ring: Sendable {
        var stamp: String
        var keys: [Key]
    }

    private let source: Source
    private let ring: Mutex<Ring>

    /// One key in memory (tests, tools).
    public convenience init(key: SymmetricKey) {
        self.init(source: .fixed([Key(bytes: key.withUnsafeBytes { Array($0) })], origin: "(in memory)"), keys: [])
    }

    private init(source: Source, keys: [Key]) {
        self.source = source
        if case .fixed(let fixed, _) = source {
            ring = Mutex(Ring(stamp: "", keys: fixed))
        } else {
            ring = Mutex(Ring(stamp: "", keys: keys))
        }
    }

    /// The environment variable that holds the master key(s) instead of a file: base64, the sealing key first, more
    /// after commas.
    public static let environmentVariable = "MCLOUDS_SECRETS_KEY"

    /// The ring from `MCLOUDS_SECRETS_KEY` when set; else the key file at `path`. When the file is absent it is
    /// created (with its folder) if `create` is true and `onCreate` is told; otherwise the box opens nothing and
    /// seals nothing (reads that need no secret still work).
    /// - Throws: ``FederationError`` `secret` when the variable or file is not a key ring.
    public static func open(
        keyFile path: String, create: Bool = true, environment: [String: String] = ProcessInfo.processInfo.environment,
        onCreate: (String) -> Void = { _ in }
    ) throws -> SecretBox {
        if let text = environment[environmentVariable], !text.isEmpty {
            let keys = try parse(Data(text.replacingOccurrences(of: ",", with: "\n").utf8), origin: environmentVariable)
            return SecretBox(source: .fixed(keys, origin: environmentVariable), keys: keys)
        }
        if !FileManager.default.fileExists(atPath: path) && create {
            try write([Key(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })], to: path)
            onCreate(path)
        }
        let box = SecretBox(source: .file(path), keys: [])
        _ = try box.keys()
        return box
    }

    /// Where the keys come from, for messages.
    var origin: String {
        switch source {
        case .file(let path): path
        case .fixed(_, let origin): origin
        }
    }

    /// The ring now: re-read when the file changed since the last use (a rotation elsewhere).
    func keys() throws -> [Key] {
        guard case .file(let path) = source else { return ring.withLock { $0.keys } }
        let stamp = FileStamp.of(path)
        if let known = ring.withLock({ $0.stamp == stamp ? $0.keys : nil }) { return known }
        guard let data = FileManager.default.contents(atPath: path) else {
            ring.withLock { $0 = Ring(stamp: stamp, keys: []) }
            return []
        }
        let keys = try Self.parse(data, origin: path)
        ring.withLock { $0 = Ring(stamp: stamp, keys: keys) }
        return keys
    }

    /// The id of the key that seals now.
    public func currentKeyID() throws -> String { try sealingKey().id }

    private func sealingKey() throws -> Key {
        guard let key = try keys().first else {
            throw FederationError(
                .secret, "There is no secrets key at \(origin), so no stored secret can be used: restore it from backup, or add the regions again.")
        }
        return key
    }

    /// `mcs1:KEYID:base64(nonce ‖ ciphertext ‖ tag)`.
    public func seal(_ secret: String) throws -> String {
        let key = try sealingKey()
        do {
            let box = try AES.GCM.seal(Data(secret.utf8), using: SymmetricKey(data: key.bytes))
            return "mcs1:\(key.id):\(box.combined!.base64EncodedString())"
        } catch {
            throw FederationError(.secret, "Cannot encrypt a secret: \(error).")
        }
    }

    /// Whether `sealed` is sealed under the current key (else ``RegionRegistry/reseal()`` seals it again).
    public func isCurrent(_ sealed: String) throws -> Bool { sealed.hasPrefix("mcs1:\(try sealingKey().id):") }

    /// - Throws: ``FederationError`` `secret` when no key of the ring opens the text (sealed under a key no longer
    ///   kept, or altered).
    public func open(_ sealed: String) throws -> String {
        let ring = try keys()
        guard !ring.isEmpty else {
            throw FederationError(
                .secret, "There is no secrets key at \(origin), so no stored secret can be used: restore it from backup, or add the regions again.")
        }
        var candidates = ring
        var text = Substring(sealed)
        if sealed.hasPrefix("mcs1:") {
            let parts = sealed.split(separator: ":", maxSplits: 2)
            guard parts.count == 3 else { throw Self.unopenable(origin) }
            candidates = ring.filter { $0.id == parts[1] }
            text = parts[2]
        }
        guard let data = Data(base64Encoded: String(text)), let box = try? AES.GCM.SealedBox(combined: data) else { throw Self.unopenable(origin) }
        for key in candidates {
            if let plain = try? AES.GCM.open(box, using: SymmetricKey(data: key.bytes)) { return String(decoding: plain, as: UTF8.self) }
        }
        throw Self.unopenable(origin)
    }

    static func unopenable(_ origin: String) -> FederationError {
        FederationError(
            .secret,
            "A stored secret cannot be decrypted: none of the keys in \(origin) sealed it (a key retired too early, or another key file). Restore the key file."
        )
    }

    // MARK: The key file

    /// Puts a new key first in the ring at `path` (the old ones stay, to open what they sealed).
    /// - Returns: the new key's id.
    @discardableResult
    public static func rotate(keyFile path: String) throws -> String {
        let old = try parse(try contents(path), origin: path)
        let new = Key(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        try write([new] + old, to: path)
        return new.id
    }

    /// Keeps only the sealing key in the ring at `path`.
    /// - Returns: the ids of the keys retired.
    @discardableResult
    public static func retire(keyFile path: String) throws -> [String] {
        let ring = try parse(try contents(path), origin: path)
        guard let current = ring.first else { return [] }
        try write([current], to: path)
        return ring.dropFirst().map(\.id)
    }

    /// The ids in the ring at `path`, the sealing key first.
    public static func keyIDs(keyFile path: String) throws -> [String] { try parse(try contents(path), origin: path).map(\.id) }

    private static func contents(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FederationError(.secret, "There is no secrets key at \(path): give the right --secrets-key (or MCLOUDS_SECRETS_KEY).")
        }
        return data
    }

    /// 32 raw bytes (one key), or lines of base64 keys (`#` comments and blank lines allowed).
    static func parse(_ data: Data, origin: String) throws -> [Key] {
        // A ring's shortest text (one base64 key) is 44 characters: 32 bytes are a raw key.
        if data.count == 32 { return [Key(bytes: Array(data))] }
        guard let text = String(data: data, encoding: .utf8) else { throw notAKey(origin) }
        let keys = try text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map { line -> Key in
                guard let bytes = Data(base64Encoded: line), bytes.count == 32 else { throw notAKey(origin) }
                return Key(bytes: Array(bytes))
            }
        guard !keys.isEmpty else { throw notAKey(origin) }
        return keys
    }

    static func notAKey(_ origin: String) -> FederationError {
        FederationError(.secret, "\(origin) is not a secrets key ring (lines of base64 256-bit keys, or 32 raw bytes). Restore it from backup.")
    }

    /// Writes the ring (mode 0600) to a temporary file and renames it over `path`: a reader never sees half a ring.
    static func write(_ keys: [Key], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let text =
            "# mClouds secrets key ring: the first key seals, every key opens. Keep it secret, keep a backup.\n"
            + keys.map { Data($0.bytes).base64EncodedString() + "\n" }.joined()
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: temporary.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw CocoaError(.fileWriteUnknown)
            }
            guard rename(temporary.path, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw FederationError(.secret, "Cannot write the secrets key \(path): \(error). Check the permissions of its folder.")
        }
    }
}
