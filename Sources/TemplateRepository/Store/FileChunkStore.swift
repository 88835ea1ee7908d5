import Core
import Crypto
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Chunks as files under `DATA/chunks/ab/cdef…` (the first two hex digits name the folder).
///
/// Each chunk is written to a temporary file in the same folder, flushed to disk with `fsync`, then
/// renamed into place, so a crash leaves either the whole chunk or nothing under its name.
public struct FileChunkStore: ChunkStore {
    /// The `chunks` directory.
    public let root: URL
    /// `root` as a path, for building chunk paths without URL parsing (hot in a publish).
    private let rootPath: String

    /// A store under `dataDirectory/chunks`, created if needed.
    /// - Throws: ``TemplateRepositoryError`` when the directory cannot be created.
    public init(dataDirectory: URL) throws {
        root = dataDirectory.appendingPathComponent("chunks")
        rootPath = root.path
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            throw TemplateRepositoryError.storeFailure(path: root.path, reason: "\(error)")
        }
    }

    /// The file of a chunk.
    public func path(for digest: String) -> String {
        folder(for: digest) + "/" + digest.dropFirst(2)
    }

    private func folder(for digest: String) -> String {
        rootPath + "/" + digest.prefix(2)
    }

    public func contains(_ digest: String) throws -> Bool {
        try validateDigest(digest)
        return access(path(for: digest), F_OK) == 0
    }

    @discardableResult
    public func put(_ digest: String, _ bytes: UnsafeRawBufferPointer) throws -> Bool {
        try validateDigest(digest)
        let actual = SHA256Stream.hex(bytes)
        guard actual == digest else { throw TemplateRepositoryError.digestMismatch(expected: digest, actual: actual) }
        return try store(digest, bytes)
    }

    @discardableResult
    public func putHashed(_ digest: String, _ bytes: UnsafeRawBufferPointer) throws -> Bool {
        try validateDigest(digest)
        return try store(digest, bytes)
    }

    /// Writes the chunk unless an intact copy is stored: a stored copy is read back and hashed, so that a
    /// publish never counts on a chunk the disk has damaged, and a good upload repairs it.
    private func store(_ digest: String, _ bytes: UnsafeRawBufferPointer) throws -> Bool {
        let final = path(for: digest)
        if access(final, F_OK) == 0, try verify(digest) != false { return false }
        let folder = folder(for: digest)
        let temporary = "\(folder)/\(TemporaryNames.unique(".tmp-\(digest.prefix(16))"))"
        var fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        if fd < 0 && errno == ENOENT {
            // The folder's first chunk.
            if mkdir(folder, 0o755) != 0 && errno != EEXIST {
                throw TemplateRepositoryError.storeFailure(path: folder, reason: String(cString: strerror(errno)))
            }
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        }
        guard fd >= 0 else { throw TemplateRepositoryError.storeFailure(path: temporary, reason: String(cString: strerror(errno))) }
        var written = 0
        while written < bytes.count {
            let n = write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n <= 0 {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw TemplateRepositoryError.storeFailure(path: temporary, reason: reason)
            }
            written += n
        }
        guard fsync(fd) == 0, close(fd) == 0 else {
            unlink(temporary)
            throw TemplateRepositoryError.storeFailure(path: temporary, reason: String(cString: strerror(errno)))
        }
        guard rename(temporary, final) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TemplateRepositoryError.storeFailure(path: final, reason: reason)
        }
        return true
    }

    /// A chunk's bytes, read straight into the array (chunks are small: one `fstat`, one `read`).
    public func get(_ digest: String) throws -> [UInt8] {
        try validateDigest(digest)
        let path = path(for: digest)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw TemplateRepositoryError.chunkMissing(digest: digest) }
            throw TemplateRepositoryError.storeFailure(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw TemplateRepositoryError.storeFailure(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(info.st_size)
        return try [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            while count < size {
                let n = read(fd, buffer.baseAddress! + count, size - count)
                guard n > 0 else {
                    throw TemplateRepositoryError.storeFailure(path: path, reason: n == 0 ? "the file ended early" : String(cString: strerror(errno)))
                }
                count += n
            }
        }
    }

    public func verify(_ digest: String) throws -> Bool? {
        do {
            let bytes = try get(digest)
            return SHA256Stream.hex(bytes) == digest
        } catch let error as TemplateRepositoryError where error.isMissingChunk {
            return nil
        }
    }

    public func remove(_ digest: String) throws {
        try validateDigest(digest)
        unlink(path(for: digest))
    }

    public func allDigests() throws -> [String] {
        var digests: [String] = []
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for folder in folders where folder.count == 2 {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? [] where name.count == 62
            {
                digests.append(folder + name)
            }
        }
        return digests.sorted()
    }

    /// Removes temporary files a crash left behind (older than `age` seconds, so running writers keep theirs).
    /// - Parameter dryRun: only count them.
    /// - Returns: how many temporaries were (or, on a dry run, would be) removed.
    @discardableResult
    public func removeStaleTemporaries(olderThan age: TimeInterval = 3600, dryRun: Bool = false) -> Int {
        let cutoff = Date().addingTimeInterval(-age)
        var stale = 0
        for folder in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] {
            let dir = root.appendingPathComponent(folder)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where name.hasPrefix(".tmp-") {
                let file = dir.appendingPathComponent(name)
                let modified = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date
                if TemporaryNames.writerIsGone(name) || (modified.map { $0 < cutoff } ?? false) {
                    stale += 1
                    if !dryRun { try? FileManager.default.removeItem(at: file) }
                }
            }
        }
        return stale
    }
}

/// Unique suffixes for temporary files within this process (the process id tells processes apart).
public enum TemporaryNames {
    private static let counter = Atomic<Int>(0)

    /// `prefix-PID-N`: unique among this process's temporary files, and ``writerIsGone(_:)`` reads the PID back.
    public static func unique(_ prefix: String) -> String { "\(prefix)-\(getpid())-\(counter.add(1, ordering: .relaxed).newValue)" }

    /// Whether the process that wrote a temporary file named `…-PID-N` (or `….partial-PID`) has ended.
    public static func writerIsGone(_ name: String) -> Bool {
        let parts = name.split(whereSeparator: { $0 == "-" })
        let candidate = name.contains(".partial-") ? parts.last : parts.dropLast().last
        guard let text = candidate, let pid = Int32(text), pid > 0, pid != getpid() else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}
