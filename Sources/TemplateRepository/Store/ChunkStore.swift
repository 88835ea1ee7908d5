/// Content-addressed storage of chunks, keyed by the SHA-256 of their bytes.
///
/// Implementations verify what they are given: a chunk whose bytes do not hash to its digest is refused
/// and nothing is stored.
public protocol ChunkStore: Sendable {
    /// Whether the chunk is stored.
    func contains(_ digest: String) throws -> Bool
    /// Stores `bytes` under `digest` unless already there intact (a stored copy that no longer hashes to its
    /// digest is replaced). Returns true when it was new or replaced.
    /// - Throws: ``TemplateRepositoryError`` on a digest mismatch or a write failure.
    @discardableResult
    func put(_ digest: String, _ bytes: UnsafeRawBufferPointer) throws -> Bool
    /// Stores bytes whose digest the caller computed itself (the chunker did, in this process), skipping
    /// the second hash. Never use it for bytes that came from elsewhere.
    @discardableResult
    func putHashed(_ digest: String, _ bytes: UnsafeRawBufferPointer) throws -> Bool
    /// The chunk's bytes.
    /// - Throws: ``TemplateRepositoryError`` `chunkMissing` when absent.
    func get(_ digest: String) throws -> [UInt8]
    /// Whether the stored chunk hashes to its digest; `nil` when it is not stored.
    func verify(_ digest: String) throws -> Bool?
    /// Removes a chunk (no error when absent).
    func remove(_ digest: String) throws
    /// Every stored digest.
    func allDigests() throws -> [String]
}

extension ChunkStore {
    /// Stores an array of bytes.
    @discardableResult
    public func put(_ digest: String, bytes: [UInt8]) throws -> Bool {
        try bytes.withUnsafeBytes { try put(digest, $0) }
    }
}

/// Checks that `digest` is 64 lower-case hex characters (so it is safe as a file name too).
func validateDigest(_ digest: String) throws {
    guard digest.utf8.count == 64, digest.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
        throw TemplateRepositoryError.invalidDigest(digest)
    }
}
