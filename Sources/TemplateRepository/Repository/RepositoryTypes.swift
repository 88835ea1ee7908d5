/// Where a version stands: listed, listed but flagged as deprecated, or taken out of the catalog.
public enum VersionState: String, Codable, Sendable {
    case published
    case deprecated
    case withdrawn
}

/// One version as the repository lists it.
public struct VersionInfo: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public var state: VersionState
    public var format: String
    public var hypervisor: String
    public var osType: String
    public var displayText: String
    public var size: Int64
    public var sha256: String
    public var chunks: Int
    public var manifestDigest: String
    public var published: String
    public var changed: String
}

/// A template and its versions, oldest first.
public struct TemplateSummary: Codable, Sendable, Hashable {
    public var name: String
    public var versions: [VersionInfo]

    /// The newest version that is not withdrawn.
    public var latest: VersionInfo? { versions.last { $0.state != .withdrawn } }
}

/// What a publish did.
public struct PublishReport: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public var size: Int64
    public var sha256: String
    public var chunks: Int
    /// Chunks (and their bytes) this publish added to the store; the rest were already there.
    public var newChunks: Int
    public var newBytes: Int64
    /// True when this exact version was already published (nothing changed).
    public var alreadyPublished: Bool
    public var manifestDigest: String
    /// The serial of the catalog that lists the version (0 when nothing changed).
    public var catalogSerial: Int

    public init(
        name: String, version: String, size: Int64, sha256: String, chunks: Int, newChunks: Int, newBytes: Int64, alreadyPublished: Bool,
        manifestDigest: String, catalogSerial: Int
    ) {
        self.name = name
        self.version = version
        self.size = size
        self.sha256 = sha256
        self.chunks = chunks
        self.newChunks = newChunks
        self.newBytes = newBytes
        self.alreadyPublished = alreadyPublished
        self.manifestDigest = manifestDigest
        self.catalogSerial = catalogSerial
    }
}

/// What garbage collection found and removed.
public struct GarbageReport: Codable, Sendable, Hashable {
    public var stored: Int
    public var live: Int
    public var removed: Int
    public var removedBytes: Int64
    /// Unreferenced chunks kept because they are younger than the grace period.
    public var keptRecent: Int
    /// Temporary files of interrupted writes removed (on a dry run: that would be removed).
    public var staleTemporaries: Int = 0
}
