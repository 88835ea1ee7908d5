/// One chunk of an image: where it sits and the SHA-256 of its bytes (lower-case hex).
public struct ChunkReference: Codable, Sendable, Hashable {
    public var digest: String
    public var offset: Int64
    public var length: Int

    public init(digest: String, offset: Int64, length: Int) {
        self.digest = digest
        self.offset = offset
        self.length = length
    }
}

/// What cutting an image produced.
public struct ChunkedImage: Sendable, Hashable {
    /// SHA-256 of the whole image (lower-case hex).
    public var digest: String
    public var size: Int64
    public var chunks: [ChunkReference]

    public init(digest: String, size: Int64, chunks: [ChunkReference]) {
        self.digest = digest
        self.size = size
        self.chunks = chunks
    }
}
