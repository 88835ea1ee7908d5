import CFiles
import Core
import Foundation
import Synchronization
import TemplateRepository

#if canImport(Glibc)
    import Glibc
#endif

/// An image being assembled (by ``ChunkFetcher/fetchImage(_:progress:)``): the partial file beside the
/// destination, written at offsets (from any thread), and the running whole-image SHA-256, fed in order;
/// flushed, checked against the signed digest and only then renamed into place, so a mismatch leaves
/// nothing at the destination.
///
/// The partial file holds verified chunks only and outlives a failed or killed sync: the next one
/// finds which of its chunks are in place (``Resumed``) and fetches only the rest.
struct ImageWriter {
    let file: ImageFile
    /// What an earlier sync left in the partial file.
    let resumed: Resumed
    private var whole: SHA256Stream

    /// Chunks of a partial image that are in place and verify.
    struct Resumed {
        /// The leading chunks, all in place (the whole-image hash has taken them).
        var prefix = 0
        /// Offsets of chunks after the prefix that are in place.
        var inPlace = Set<Int64>()
        /// An offset of each digest in place anywhere (a source for the same chunk elsewhere in the image).
        var locations: [String: Int64] = [:]
    }

    /// Opens (or creates) the partial file of `destination` and finds what it holds of `manifest`.
    /// - Throws: ``SyncAgentError`` `storage` when it cannot be opened, or another process is assembling it.
    init(destination: String, manifest: TemplateManifest) throws {
        file = try ImageFile(destination: destination)
        var whole = SHA256Stream()
        resumed = file.scan(manifest, whole: &whole)
        self.whole = whole
        // The image's size exactly (a longer leftover must not trail the image).
        do {
            try file.setSize(manifest.size)
        } catch {
            file.close()
            throw error
        }
    }

    /// Hashes a chunk together with the whole image, in one pass. True when it matches its digest (the
    /// whole-image hash has taken it; the caller writes it at its offset); false, leaving the whole-image
    /// hash untouched, when it does not.
    mutating func absorbVerifying(_ chunk: ChunkReference, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var trial = whole
        var digest = SHA256Stream()
        SHA256Stream.update(&digest, &trial, with: bytes)
        guard digest.finalizeHex() == chunk.digest else { return false }
        whole = trial
        return true
    }

    /// Takes bytes known good into the whole-image hash.
    mutating func absorb(_ bytes: UnsafeRawBufferPointer) { whole.update(bytes) }

    /// Flushes, checks the whole image against the signed digest, puts the manifest beside it (for the
    /// chunks' reuse) and renames it into place.
    /// - Throws: ``SyncAgentError`` `imageMismatch` (the partial file is removed) or a storage error.
    mutating func finish(_ manifest: TemplateManifest, cache: ImageCache) throws {
        let actual = whole.finalizeHex()
        try file.finish {
            guard actual == manifest.sha256 else {
                return SyncAgentError.imageMismatch(name: "\(manifest.name)@\(manifest.version)", expected: manifest.sha256, actual: actual)
            }
            try cache.saveManifest(manifest, forImage: file.destination)
            return nil
        }
    }

    /// Closes after a failure, keeping the partial file (its chunks are verified) for the next sync.
    func suspend() { file.close() }

    /// Closes and removes the partial file.
    func discard() { file.abort() }

    /// Whether another process is assembling the image at the partial file `path`.
    static func isBusy(_ partial: String) -> Bool {
        let fd = open(partial, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0
    }
}

/// The partial file of an image being assembled (locked against other processes); `write(_:at:)` may be
/// called from several threads.
final class ImageFile: Sendable {
    let destination: String
    let partial: String
    private let fd: Int32
    private let closed = Mutex(false)

    init(destination: String) throws {
        self.destination = destination
        partial = ImageCache.partialPath(ofImage: destination)
        fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SyncAgentError.storage(partial, String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(fd)
            throw SyncAgentError.storage(partial, "another agent process is assembling this image; run one agent per directory")
        }
    }

    /// Finds the chunks of `manifest` in place in the file (the whole-image hash takes the leading ones).
    /// Ranges the file has no data in are skipped without reading.
    func scan(_ manifest: TemplateManifest, whole: inout SHA256Stream) -> ImageWriter.Resumed {
        var resumed = ImageWriter.Resumed()
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return resumed }
        let size = Int64(info.st_size)
        var intact = true
        for (index, chunk) in manifest.chunks.enumerated() {
            let end = chunk.offset + Int64(chunk.length)
            guard end <= size else { break }
            let data = mc_next_data(fd, chunk.offset)
            guard data >= 0, data < end, let bytes = Self.read(fd, offset: chunk.offset, length: chunk.length) else {
                intact = false
                continue
            }
            var digest = SHA256Stream()
            var trial = whole
            bytes.withUnsafeBytes { raw in
                if intact { SHA256Stream.update(&digest, &trial, with: raw) } else { digest.update(raw) }
            }
            guard digest.finalizeHex() == chunk.digest else {
                intact = false
                continue
            }
            if intact {
                whole = trial
                resumed.prefix = index + 1
            } else {
                resumed.inPlace.insert(chunk.offset)
            }
            if resumed.locations[chunk.digest] == nil { resumed.locations[chunk.digest] = chunk.offset }
        }
        return resumed
    }

    func write(_ raw: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < raw.count {
            let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done))
            guard n > 0 else { throw SyncAgentError.storage(partial, String(cString: strerror(errno))) }
            done += n
        }
    }

    func setSize(_ size: Int64) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw SyncAgentError.storage(partial, String(cString: strerror(errno))) }
    }

    /// Bytes of the file (`nil` when they cannot be read whole).
    func read(offset: Int64, length: Int) -> [UInt8]? { Self.read(fd, offset: offset, length: length) }

    static func read(_ fd: Int32, offset: Int64, length: Int) -> [UInt8]? {
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
            var done = 0
            while done < length {
                let n = pread(fd, buffer.baseAddress! + done, length - done, off_t(offset) + off_t(done))
                guard n > 0 else {
                    failed = true
                    break
                }
                done += n
            }
            count = done
        }
        return failed ? nil : bytes
    }

    /// Flushes; then, unless `check` returns an error (thrown after removing the file), renames the file
    /// into place and closes it.
    func finish(_ check: () throws -> SyncAgentError?) throws {
        guard fsync(fd) == 0 else { throw SyncAgentError.storage(partial, String(cString: strerror(errno))) }
        if let error = try check() {
            abort()
            throw error
        }
        guard rename(partial, destination) == 0 else { throw SyncAgentError.storage(destination, String(cString: strerror(errno))) }
        close()
    }

    /// Removes the file and closes it.
    func abort() {
        unlink(partial)
        close()
    }

    /// Closes the file (and so releases its lock); once.
    func close() {
        closed.withLock { closed in
            if !closed { Glibc.close(fd) }
            closed = true
        }
    }
}
