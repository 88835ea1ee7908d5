import Core
import Foundation
import Synchronization
import TemplateRepository

#if canImport(Glibc)
    import Glibc
#endif

/// An image being assembled (by ``ChunkFetcher/fetchImage(_:to:progress:)``): a temporary file beside the
/// destination, written at offsets (from any thread), and the running whole-image SHA-256, fed in order;
/// flushed, checked against the signed digest and only then renamed into place, so a mismatch leaves
/// nothing at the destination.
struct ImageWriter {
    let file: ImageFile
    private var whole = SHA256Stream()

    init(destination: String) throws { file = try ImageFile(destination: destination) }

    /// Hashes a chunk fresh from the network together with the whole image, in one pass. True when it
    /// matches its digest (the whole-image hash has taken it; the caller writes it at its offset); false,
    /// leaving the whole-image hash untouched, when it does not.
    mutating func absorbVerifying(_ chunk: ChunkReference, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var trial = whole
        var digest = SHA256Stream()
        SHA256Stream.update(&digest, &trial, with: bytes)
        guard digest.finalizeHex() == chunk.digest else { return false }
        whole = trial
        return true
    }

    /// Takes bytes known good into the whole-image hash (the caller writes them at their offset).
    mutating func absorb(_ bytes: UnsafeRawBufferPointer) { whole.update(bytes) }

    /// Flushes, checks the whole image against the signed digest and renames it into place.
    /// - Throws: ``SyncAgentError`` `imageMismatch` (the temporary file is removed) or a storage error.
    mutating func finish(_ manifest: TemplateManifest) throws {
        let actual = whole.finalizeHex()
        try file.finish {
            actual == manifest.sha256
                ? nil : SyncAgentError.imageMismatch(name: "\(manifest.name)@\(manifest.version)", expected: manifest.sha256, actual: actual)
        }
    }

    /// Removes the temporary file after a failure.
    func abort() { file.abort() }
}

/// The temporary file of an image being assembled; `write(_:at:)` may be called from several threads.
final class ImageFile: Sendable {
    let destination: String
    let temporary: String
    private let fd: Int32
    private let closed = Mutex(false)

    init(destination: String) throws {
        self.destination = destination
        temporary = "\(destination).partial-\(getpid())"
        fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SyncAgentError.storage(temporary, String(cString: strerror(errno))) }
    }

    func write(_ raw: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < raw.count {
            let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done))
            guard n > 0 else { throw SyncAgentError.storage(temporary, String(cString: strerror(errno))) }
            done += n
        }
    }

    /// Flushes and closes; then, unless `check` returns an error (thrown after removing the file), renames
    /// the file into place.
    func finish(_ check: () -> SyncAgentError?) throws {
        guard fsync(fd) == 0 else { throw SyncAgentError.storage(temporary, String(cString: strerror(errno))) }
        closeOnce()
        if let error = check() {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw SyncAgentError.storage(destination, reason)
        }
    }

    func abort() {
        closeOnce()
        unlink(temporary)
    }

    private func closeOnce() {
        closed.withLock { closed in
            if !closed { close(fd) }
            closed = true
        }
    }
}
