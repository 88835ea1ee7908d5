/// What went wrong in the template repository: chunking, the chunk store, manifests and catalogs.
public struct TemplateRepositoryError: Error, Sendable, CustomStringConvertible, Equatable {
    private enum Kind: Sendable, Equatable {
        case invalidChunking(minimum: Int, average: Int, maximum: Int)
        case unreadableImage(path: String, reason: String)
        case storeFailure(path: String, reason: String)
        case digestMismatch(expected: String, actual: String)
        case chunkMissing(digest: String)
        case invalidDigest(String)
        case badSignature(document: String)
        case untrustedKey(keyID: String)
        case expired(document: String, expiredAt: String)
        case replayed(serial: Int, lastSeen: Int)
        case malformed(document: String, reason: String)
        case badKey(path: String, reason: String)
        case invalidName(kind: String, value: String)
        case versionConflict(name: String, version: String)
        case notFound(name: String, version: String?)
        case withdrawn(name: String, version: String)
        case incompleteUpload(missing: [String])
        case damagedChunks([String])
        case badImage(format: String, reason: String)
        case unknownOSType(String, suggestion: String?)
    }

    private let kind: Kind

    static func invalidChunking(minimum: Int, average: Int, maximum: Int) -> Self {
        .init(kind: .invalidChunking(minimum: minimum, average: average, maximum: maximum))
    }
    static func unreadableImage(path: String, reason: String) -> Self { .init(kind: .unreadableImage(path: path, reason: reason)) }
    static func storeFailure(path: String, reason: String) -> Self { .init(kind: .storeFailure(path: path, reason: reason)) }
    static func digestMismatch(expected: String, actual: String) -> Self { .init(kind: .digestMismatch(expected: expected, actual: actual)) }
    static func chunkMissing(digest: String) -> Self { .init(kind: .chunkMissing(digest: digest)) }
    static func invalidDigest(_ text: String) -> Self { .init(kind: .invalidDigest(text)) }
    static func badSignature(document: String) -> Self { .init(kind: .badSignature(document: document)) }
    static func untrustedKey(keyID: String) -> Self { .init(kind: .untrustedKey(keyID: keyID)) }
    static func expired(document: String, expiredAt: String) -> Self { .init(kind: .expired(document: document, expiredAt: expiredAt)) }
    static func replayed(serial: Int, lastSeen: Int) -> Self { .init(kind: .replayed(serial: serial, lastSeen: lastSeen)) }
    public static func malformed(document: String, reason: String) -> Self { .init(kind: .malformed(document: document, reason: reason)) }
    static func badKey(path: String, reason: String) -> Self { .init(kind: .badKey(path: path, reason: reason)) }

    static func invalidName(kind: String, value: String) -> Self { .init(kind: .invalidName(kind: kind, value: value)) }
    static func versionConflict(name: String, version: String) -> Self { .init(kind: .versionConflict(name: name, version: version)) }
    public static func notFound(name: String, version: String?) -> Self { .init(kind: .notFound(name: name, version: version)) }
    static func withdrawn(name: String, version: String) -> Self { .init(kind: .withdrawn(name: name, version: version)) }
    static func incompleteUpload(missing: [String]) -> Self { .init(kind: .incompleteUpload(missing: missing)) }
    /// Stored chunks that no longer hash to their digest (damaged on disk); they were removed.
    static func damagedChunks(_ digests: [String]) -> Self { .init(kind: .damagedChunks(digests)) }
    /// The image is not what its declared format says.
    public static func badImage(format: String, reason: String) -> Self { .init(kind: .badImage(format: format, reason: reason)) }
    /// The OS type is not a CloudStack guest OS name.
    public static func unknownOSType(_ name: String, suggestion: String?) -> Self { .init(kind: .unknownOSType(name, suggestion: suggestion)) }

    /// The kind of failure as an HTTP status: 400 bad input, 404 unknown, 409 conflict, 422 refused
    /// document, 500 storage.
    public var httpStatus: Int {
        switch kind {
        case .invalidChunking, .invalidDigest, .malformed, .invalidName, .digestMismatch, .badImage, .unknownOSType: 400
        case .chunkMissing, .notFound: 404
        case .versionConflict, .withdrawn, .incompleteUpload, .damagedChunks: 409
        case .badSignature, .untrustedKey, .expired, .replayed, .badKey: 422
        case .unreadableImage, .storeFailure: 500
        }
    }

    /// Digests a commit still lacks (for `incompleteUpload`), so a client can upload them and retry.
    public var missingChunks: [String] {
        switch kind {
        case .incompleteUpload(let missing), .damagedChunks(let missing): missing
        default: []
        }
    }

    /// True for `chunkMissing`.
    public var isMissingChunk: Bool {
        if case .chunkMissing = kind { return true }
        return false
    }

    /// True when a document was refused for its signature, key, age or serial (never trust its content).
    public var isTrustFailure: Bool {
        switch kind {
        case .badSignature, .untrustedKey, .expired, .replayed: true
        default: false
        }
    }

    public var description: String {
        switch kind {
        case .invalidChunking(let minimum, let average, let maximum):
            "Chunk sizes \(minimum)/\(average)/\(maximum) are not usable: they need minimum ≤ average ≤ maximum and a power-of-two average of at least 256."
        case .unreadableImage(let path, let reason):
            "Cannot read the image \(path): \(reason). Check the path and its permissions."
        case .storeFailure(let path, let reason):
            "The chunk store could not write \(path): \(reason). Check free space and permissions of the data directory."
        case .digestMismatch(let expected, let actual):
            "Content does not match its digest (expected sha256 \(expected), got \(actual)); it was not stored. Fetch it again."
        case .chunkMissing(let digest):
            "Chunk \(digest) is not in the store. Publish or sync again to fetch it."
        case .invalidDigest(let text):
            "\(text) is not a SHA-256 digest (64 lower-case hex characters)."
        case .badSignature(let document):
            "The signature of \(document) does not verify: it was altered or signed by another key. Refusing it."
        case .untrustedKey(let keyID):
            "\(keyID) is not a trusted publisher key. Add its public key to the trusted keys if it is genuine."
        case .expired(let document, let expiredAt):
            "\(document) expired at \(expiredAt): the server or mirror is stale. Refusing it; check that the publisher re-signs the catalog."
        case .replayed(let serial, let lastSeen):
            "Catalog serial \(serial) is older than serial \(lastSeen) already seen: a replayed or rolled-back catalog. Refusing it."
        case .malformed(let document, let reason):
            "\(document) is malformed: \(reason)."
        case .badKey(let path, let reason):
            "The key file \(path) is not usable: \(reason). Generate one with `mclouds keys generate`."
        case .invalidName(let kind, let value):
            "\(kind) \"\(value)\" is not allowed: use 1–128 letters, digits, '.', '_' or '-', starting with a letter or digit, and no \"..\"."
        case .versionConflict(let name, let version):
            "\(name)@\(version) is already published with different content. Versions never change: publish under a new version."
        case .notFound(let name, let version):
            version.map { "Template version \(name)@\($0) does not exist. See `mclouds template list`." }
                ?? "Template \(name) does not exist. See `mclouds template list`."
        case .withdrawn(let name, let version):
            "\(name)@\(version) was withdrawn; its version cannot be reused. Publish under a new version."
        case .incompleteUpload(let missing):
            "The repository lacks \(missing.count) chunk(s) of this version (first: \(missing.first ?? "")). Upload them, then commit again."
        case .damagedChunks(let digests):
            "\(digests.count) stored chunk(s) of this version no longer match their digest (first: \(digests.first ?? "")): damaged on the repository's disk. "
                + "They were removed: upload them again, then commit (mclouds template publish does so by itself); run `mclouds template verify` to check the rest."
        case .badImage(let format, let reason):
            "The image is not a valid \(format) image: \(reason). Check --format, or convert the image (qemu-img convert -O …); nothing was published."
        case .unknownOSType(let name, let suggestion):
            "OS type \"\(name)\" is not a CloudStack guest OS name\(suggestion.map { " (did you mean \"\($0)\"?)" } ?? ""): "
                + "see docs/os-types.md for the accepted names; nothing was published."

        }
    }
}
