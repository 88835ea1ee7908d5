/// The wire messages of remote publishing (`mclouds template publish --server`): ask which chunks are
/// missing, upload those, then commit the version.

/// `POST /api/v1/uploads/missing` body: at most ``pageLimit`` digests (a publisher asks page by page, so that
/// one request costs the server bounded memory and time).
public struct MissingChunksRequest: Codable, Sendable {
    public var digests: [String]
    public init(digests: [String]) { self.digests = digests }

    /// The most digests one request may ask about.
    public static let pageLimit = 10_000
    /// The largest body a request of ``pageLimit`` digests needs (JSON of 64-character digests, with room).
    public static let bodyLimit = pageLimit * 70 + 1024
}

/// `POST /api/v1/uploads/missing` answer: the digests the repository lacks, in the order asked.
public struct MissingChunksResponse: Codable, Sendable {
    public var missing: [String]
    public init(missing: [String]) { self.missing = missing }
}

/// `POST /api/v1/templates/{name}/versions` body: the metadata and the image as chunked by the publisher.
public struct CommitRequest: Codable, Sendable {
    public var metadata: TemplateMetadata
    public var sha256: String
    public var size: Int64
    public var chunks: [ChunkReference]

    public init(metadata: TemplateMetadata, image: ChunkedImage) {
        self.metadata = metadata
        sha256 = image.digest
        size = image.size
        chunks = image.chunks
    }

    public var image: ChunkedImage { ChunkedImage(digest: sha256, size: size, chunks: chunks) }
}

/// `POST /api/v1/templates/{name}/versions/{version}/state` body.
public struct StateChangeRequest: Codable, Sendable {
    public var state: VersionState
    public init(state: VersionState) { self.state = state }
}

/// The answer to a state change: the catalog serial that reflects it.
public struct StateChangeResponse: Codable, Sendable {
    public var name: String
    public var version: String
    public var state: VersionState
    public var catalogSerial: Int
    public init(name: String, version: String, state: VersionState, catalogSerial: Int) {
        self.name = name
        self.version = version
        self.state = state
        self.catalogSerial = catalogSerial
    }
}

/// `GET /api/v1/templates` answer.
public struct TemplateList: Codable, Sendable {
    public var templates: [TemplateSummary]
    public init(templates: [TemplateSummary]) { self.templates = templates }
}

/// `GET /api/v1/repository`: how this repository cuts images (publishers must cut the same way) and the
/// public key it signs with.
public struct RepositoryInfo: Codable, Sendable {
    public var chunking: ChunkingParameters
    public var publisherKey: String
    public var keyID: String

    public init(chunking: ChunkingParameters, publisherKey: String, keyID: String) {
        self.chunking = chunking
        self.publisherKey = publisherKey
        self.keyID = keyID
    }
}

/// One template version at one site, as its agent last reported it.
public struct SiteTemplateState: Codable, Sendable, Hashable {
    public var site: String
    public var template: String
    public var version: String
    public var state: String
    public var bytesDownloaded: Int64
    public var bytesReused: Int64
    public var error: String?
    /// When it was reported (filled in by the server).
    public var reported: String?

    public init(
        site: String, template: String, version: String, state: String, bytesDownloaded: Int64, bytesReused: Int64, error: String? = nil,
        reported: String? = nil
    ) {
        self.site = site
        self.template = template
        self.version = version
        self.state = state
        self.bytesDownloaded = bytesDownloaded
        self.bytesReused = bytesReused
        self.error = error
        self.reported = reported
    }
}

/// `POST /api/v1/sites/{site}/report` body and `GET /api/v1/rollout` answer.
public struct RolloutStatus: Codable, Sendable {
    public var states: [SiteTemplateState]
    public init(states: [SiteTemplateState]) { self.states = states }
}
