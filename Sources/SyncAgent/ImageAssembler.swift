import Core
import Crypto
import Foundation
import TemplateRepository

#if canImport(Glibc)
    import Glibc
#endif

/// Builds an image file from cached chunks: written to a temporary file beside the destination while
/// hashed, flushed, checked against the signed whole-image SHA-256, and only then renamed into place.
/// A mismatch leaves nothing at the destination.
public struct ImageAssembler: Sendable {
    public let cache: FileChunkStore

    public init(cache: FileChunkStore) { self.cache = cache }

    /// - Throws: ``SyncAgentError`` `imageMismatch` when the chunks do not make the signed image, or a
    ///   storage error; ``TemplateRepositoryError`` `chunkMissing` when a chunk is not cached.
    public func assemble(_ manifest: TemplateManifest, to destination: String) throws {
        let temporary = "\(destination).partial-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SyncAgentError.storage(temporary, String(cString: strerror(errno))) }
        var hasher = SHA256()
        do {
            for chunk in manifest.chunks {
                let bytes = try cache.get(chunk.digest)
                hasher.update(data: bytes)
                let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                guard written == bytes.count else { throw SyncAgentError.storage(temporary, String(cString: strerror(errno))) }
            }
            guard fsync(fd) == 0 else { throw SyncAgentError.storage(temporary, String(cString: strerror(errno))) }
            close(fd)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        let actual = hasher.finalize().hexString
        guard actual == manifest.sha256 else {
            unlink(temporary)
            throw SyncAgentError.imageMismatch(name: "\(manifest.name)@\(manifest.version)", expected: manifest.sha256, actual: actual)
        }
        guard rename(temporary, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw SyncAgentError.storage(destination, reason)
        }
    }
}
