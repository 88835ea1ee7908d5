/// Disk image formats CloudStack registers.
public enum ImageFormat: String, Codable, Sendable, CaseIterable {
    case qcow2 = "QCOW2"
    case raw = "RAW"
    case vhd = "VHD"
    case ova = "OVA"
}

/// Hypervisors a template is built for.
public enum Hypervisor: String, Codable, Sendable, CaseIterable {
    case kvm = "KVM"
    case xenServer = "XenServer"
    case vmware = "VMware"
    case hyperv = "Hyperv"
}

/// One version of a template: what it is, and the chunks its image is made of. Signed by the publisher.
/// Properties are encoded in declaration order; that encoding is what the signature covers.
public struct TemplateManifest: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public var format: ImageFormat
    public var hypervisor: Hypervisor
    /// CloudStack OS type name (`listOsTypes` description), e.g. `Ubuntu 22.04 LTS`.
    public var osType: String
    public var displayText: String
    public var software: [String]
    public var minimumCPUs: Int?
    public var minimumMemoryMB: Int?
    /// Image size in bytes.
    public var size: Int64
    /// SHA-256 of the whole image (lower-case hex).
    public var sha256: String
    public var chunking: ChunkingParameters
    public var chunks: [ChunkReference]
    /// When it was published (`yyyy-MM-dd'T'HH:mm:ssZ`).
    public var created: String
    public var publisherKeyID: String
    /// Optional end of support (`yyyy-MM-dd'T'HH:mm:ssZ`).
    public var expires: String?
    /// For a version built from a recipe: the recipe's digest and its checks' results (absent otherwise, so
    /// manifests signed before builds existed read and verify as they were).
    public var build: BuildProvenance?

    public init(
        name: String, version: String, format: ImageFormat, hypervisor: Hypervisor, osType: String, displayText: String, software: [String],
        minimumCPUs: Int? = nil, minimumMemoryMB: Int? = nil, image: ChunkedImage, chunking: ChunkingParameters, created: String,
        publisherKeyID: String, expires: String? = nil, build: BuildProvenance? = nil
    ) {
        self.name = name
        self.version = version
        self.format = format
        self.hypervisor = hypervisor
        self.osType = osType
        self.displayText = displayText
        self.software = software
        self.minimumCPUs = minimumCPUs
        self.minimumMemoryMB = minimumMemoryMB
        self.size = image.size
        self.sha256 = image.digest
        self.chunking = chunking
        self.chunks = image.chunks
        self.created = created
        self.publisherKeyID = publisherKeyID
        self.expires = expires
        self.build = build
    }

    /// Checks that the chunk list tiles the image exactly (offsets contiguous from 0, lengths sum to size).
    /// - Throws: ``TemplateRepositoryError`` `malformed` otherwise.
    public func validateLayout() throws {
        var expected: Int64 = 0
        for chunk in chunks {
            try validateDigest(chunk.digest)
            guard chunk.offset == expected, chunk.length > 0 else {
                throw TemplateRepositoryError.malformed(
                    document: "manifest \(name)@\(version)", reason: "chunk at offset \(chunk.offset) should start at \(expected)")
            }
            expected += Int64(chunk.length)
        }
        guard expected == size else {
            throw TemplateRepositoryError.malformed(document: "manifest \(name)@\(version)", reason: "chunks cover \(expected) bytes of \(size)")
        }
    }
}

/// The signed list of current template versions. Its serial only grows and it expires, so a replayed,
/// frozen or stale catalog is refused by readers.
public struct Catalog: Codable, Sendable, Hashable {
    public var serial: Int
    public var issued: String
    public var expires: String
    public var entries: [Entry]

    public init(serial: Int, issued: String, expires: String, entries: [Entry]) {
        self.serial = serial
        self.issued = issued
        self.expires = expires
        self.entries = entries
    }

    /// One published version.
    public struct Entry: Codable, Sendable, Hashable {
        public var name: String
        public var version: String
        /// SHA-256 of the signed manifest document as served.
        public var manifestDigest: String
        public var size: Int64
        public var deprecated: Bool

        public init(name: String, version: String, manifestDigest: String, size: Int64, deprecated: Bool = false) {
            self.name = name
            self.version = version
            self.manifestDigest = manifestDigest
            self.size = size
            self.deprecated = deprecated
        }
    }
}
