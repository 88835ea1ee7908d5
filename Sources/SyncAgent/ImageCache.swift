import CFiles
import Core
import Foundation
import Logging
import TemplateRepository

#if canImport(Glibc)
    import Glibc
#endif

/// The agent's images, which are its chunk cache too: every assembled image lies beside its manifest
/// (`ubuntu-2.qcow2` and `ubuntu-2.qcow2.manifest`), so any chunk an image holds is found by digest and read
/// from there — the next version reuses the chunks it shares with the last (as casync seeds from an old
/// image), and no byte is kept twice. The image being assembled is `ubuntu-2.qcow2.partial`; it holds only
/// verified chunks, so a killed sync resumes from it.
///
/// Reads from a cached image are verified by whoever uses them (a chunk that no longer hashes right is
/// fetched again), so a damaged or trimmed image costs a download, never a wrong byte.
public struct ImageCache: Sendable {
    public let directory: URL

    static let manifestSuffix = ".manifest"
    static let partialSuffix = ".partial"
    /// An image with chunks trimmed away: still a source of its other chunks, never served.
    static let trimmedSuffix = ".trimmed"

    public init(directory: URL) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw SyncAgentError.storage(directory.path, "cannot create the image directory (\(error.localizedDescription))")
        }
    }

    /// `name-version.format` (names and versions are restricted to safe characters by the repository).
    public static func fileName(_ manifest: TemplateManifest) -> String {
        "\(manifest.name)-\(manifest.version).\(manifest.format.rawValue.lowercased())"
    }

    /// Where the image of `manifest` is (once assembled).
    public func path(for manifest: TemplateManifest) -> String { directory.appendingPathComponent(Self.fileName(manifest)).path }

    static func manifestPath(ofImage path: String) -> String { path + manifestSuffix }
    static func partialPath(ofImage path: String) -> String { path + partialSuffix }

    /// Whether a directory entry is an image (not a manifest, a partial image or a temporary file).
    static func isImageName(_ name: String) -> Bool {
        !name.hasPrefix(".") && !name.hasSuffix(manifestSuffix) && !name.hasSuffix(partialSuffix) && !name.contains(".partial-")
    }

    /// An assembled image.
    public struct Image: Sendable {
        public var path: String
        /// Bytes it takes on disk (trimmed chunks take none).
        public var allocated: Int64
        /// When a sync last used it.
        public var used: Date

        /// Its chunks, from the manifest beside it (read on each call, so that many large images are never
        /// all in memory); `nil` when that is missing or unreadable: then none of its chunks is reused.
        public func chunks() -> [ChunkReference]? { manifest()?.chunks }

        /// The manifest beside it; `nil` when that is missing or unreadable.
        public func manifest() -> TemplateManifest? {
            FileManager.default.contents(atPath: ImageCache.manifestPath(ofImage: path)).flatMap {
                try? JSONDecoder().decode(TemplateManifest.self, from: $0)
            }
        }
    }

    /// Gives `manifest`'s version the image another version of the same bytes has (a second name of the
    /// same file: the bytes are stored once). False when no whole image of those bytes is here.
    func linkIdentical(_ manifest: TemplateManifest) throws -> Bool {
        let destination = path(for: manifest)
        for image in images() where !image.path.hasSuffix(Self.trimmedSuffix) && image.path != destination {
            guard let other = image.manifest(), other.sha256 == manifest.sha256, other.size == manifest.size else { continue }
            guard link(image.path, destination) == 0 else {
                if errno == EEXIST { return true }
                throw SyncAgentError.storage(destination, String(cString: strerror(errno)))
            }
            try saveManifest(manifest, forImage: destination)
            return true
        }
        return false
    }

    /// The chunks of `manifest` its assembled image does not hold intact (all of them when the image is
    /// missing or of the wrong size), read and hashed chunk by chunk.
    public func damagedChunks(of manifest: TemplateManifest) -> [ChunkReference] {
        let image = path(for: manifest)
        guard let info = Self.stat(image), Int64(info.st_size) == manifest.size else { return manifest.chunks }
        let fd = open(image, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return manifest.chunks }
        defer { close(fd) }
        return manifest.chunks.filter { chunk in
            guard let bytes = ImageFile.read(fd, offset: chunk.offset, length: chunk.length) else { return true }
            return SHA256Stream.hex(bytes) != chunk.digest
        }
    }

    /// One image's check (``verify(demotingDamaged:)``).
    public struct Check: Sendable, Hashable, Codable {
        /// The image's file name (`ubuntu-2.qcow2`).
        public var image: String
        public var chunks: Int
        /// Chunks that do not hash to their digest; `-1` when the image has no readable manifest.
        public var damaged: Int
    }

    /// Reads and hashes every whole image against the manifest beside it. With `demotingDamaged`, a damaged
    /// image becomes partial (no longer served): the next sync fetches only its damaged chunks.
    public func verify(demotingDamaged: Bool = false) throws -> [Check] {
        var checks: [Check] = []
        for image in images() where !image.path.hasSuffix(Self.trimmedSuffix) {
            let name = URL(fileURLWithPath: image.path).lastPathComponent
            guard let manifest = image.manifest(), Self.fileName(manifest) == name else {
                checks.append(Check(image: name, chunks: 0, damaged: -1))
                continue
            }
            let damaged = damagedChunks(of: manifest)
            checks.append(Check(image: name, chunks: manifest.chunks.count, damaged: damaged.count))
            if demotingDamaged && !damaged.isEmpty { try demote(manifest) }
        }
        return checks
    }

    /// Turns a damaged image back into a partial one, so that the next fetch keeps its intact chunks and
    /// fetches only the rest (it is no longer served meanwhile).
    public func demote(_ manifest: TemplateManifest) throws {
        let image = path(for: manifest)
        guard rename(image, Self.partialPath(ofImage: image)) == 0 || errno == ENOENT else {
            throw SyncAgentError.storage(image, String(cString: strerror(errno)))
        }
    }

    /// Every assembled image.
    public func images() -> [Image] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter(Self.isImageName).sorted().compactMap { name in
            let path = directory.appendingPathComponent(name).path
            guard let info = Self.stat(path), (info.st_mode & S_IFMT) == S_IFREG else { return nil }
            return Image(path: path, allocated: Self.allocated(info), used: Self.modified(info))
        }
    }

    /// Where each of `digests` lies in the assembled images (one place per digest; those in none are absent).
    func locations(of digests: Set<String>) -> [String: ChunkLocation] {
        var locations: [String: ChunkLocation] = [:]
        for image in images() where locations.count < digests.count {
            for chunk in image.chunks() ?? [] where digests.contains(chunk.digest) && locations[chunk.digest] == nil {
                locations[chunk.digest] = ChunkLocation(path: image.path, offset: chunk.offset, length: chunk.length)
            }
        }
        return locations
    }

    /// Writes the manifest beside its image (atomically), so the image's chunks can be found later.
    func saveManifest(_ manifest: TemplateManifest, forImage path: String) throws {
        let target = Self.manifestPath(ofImage: path)
        let temporary = directory.appendingPathComponent(TemporaryNames.unique(".\(Self.fileName(manifest)).manifest")).path
        do {
            let data = try JSONEncoder().encode(manifest)
            try data.write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, target) == 0 else { throw SyncAgentError.storage(target, String(cString: strerror(errno))) }
        } catch {
            unlink(temporary)
            throw SyncAgentError.storage(target, "cannot write the image's manifest (\(error))")
        }
    }

    /// Marks images as just used (least recently used ones are trimmed first).
    public func touch(_ paths: some Sequence<String>) {
        for path in paths { utimes(path, nil) }
    }

    /// Removes what interrupted syncs left that no sync will finish: partial images of versions no longer
    /// wanted, manifests without an image, temporary files of dead processes. A partial image of a wanted
    /// version stays: the next sync resumes from it.
    /// - Parameter wanted: file names (``fileName(_:)``) of the versions still wanted.
    public func removeLeftovers(wanted: Set<String>) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let present = Set(names)
        for name in names {
            let path = directory.appendingPathComponent(name).path
            if name.hasSuffix(Self.partialSuffix) {
                let image = String(name.dropLast(Self.partialSuffix.count))
                if !wanted.contains(image) && !ImageWriter.isBusy(path) {
                    unlink(path)
                    if !present.contains(image) { unlink(Self.manifestPath(ofImage: directory.appendingPathComponent(image).path)) }
                }
            } else if name.hasSuffix(Self.manifestSuffix) {
                let image = String(name.dropLast(Self.manifestSuffix.count))
                if !present.contains(image) && !present.contains(image + Self.partialSuffix) { unlink(path) }
            } else if name.contains(".manifest-") || name.contains(".partial-"), TemporaryNames.writerIsGone(name) {
                unlink(path)  // a manifest being written, or a half-assembled image of an earlier release's agent
            }
        }
    }

    /// What ``trim(budget:keeping:)`` freed.
    public struct Trimmed: Sendable, Hashable {
        public var bytes: Int64
        /// Chunks whose space was given back (their image stays, with a hole there).
        public var chunks: Int
        /// Images removed whole.
        public var images: Int

        public init(bytes: Int64 = 0, chunks: Int = 0, images: Int = 0) {
            self.bytes = bytes
            self.chunks = chunks
            self.images = images
        }
    }

    /// Brings the images within `budget` bytes. Images of `current` versions always stay whole. Of the
    /// others, first the chunks a current image holds too go (nothing is lost), then chunk after chunk of
    /// the least recently used image, until the budget holds; an image with nothing left is removed with
    /// its manifest. Space is given back by punching holes (the file keeps its size; a read of a trimmed
    /// chunk gives zeros, which never verify); where the file system cannot, the image goes whole.
    public func trim(budget: Int64, keeping current: Set<String>, logger: Logger? = nil) -> Trimmed {
        let all = images()
        // Two versions of the same bytes are two names of one file: it counts once, and trimming one name
        // would trim the other.
        var files = Set<[UInt64]>()
        var total = all.reduce(Int64(0)) { sum, image in files.insert(Self.fileID(image.path)).inserted ? sum + image.allocated : sum }
        var trimmed = Trimmed()
        guard total > budget else { return trimmed }
        let kept = all.filter { current.contains($0.path) }
        let keptFiles = Set(kept.map { Self.fileID($0.path) })
        let keptDigests = Set(kept.flatMap { $0.chunks()?.map(\.digest) ?? [] })
        var candidates = all.filter { !current.contains($0.path) && !keptFiles.contains(Self.fileID($0.path)) }.sorted { $0.used < $1.used }

        /// Punches the chunks (in file order) until the budget holds; false when the file system cannot.
        /// Runs of adjacent chunks are punched as one range, so blocks two chunks share are given back too.
        /// The image is first renamed `….trimmed` (with its manifest): it is no longer whole, so no longer served.
        func punch(_ image: inout Image, _ chunks: [ChunkReference]) -> Bool {
            guard !chunks.isEmpty, total > budget else { return true }
            if !image.path.hasSuffix(Self.trimmedSuffix) {
                let trimmed = image.path + Self.trimmedSuffix
                guard rename(Self.manifestPath(ofImage: image.path), Self.manifestPath(ofImage: trimmed)) == 0 else { return false }
                guard rename(image.path, trimmed) == 0 else { return false }
                image.path = trimmed
            }
            let fd = open(image.path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            var run: (start: Int64, end: Int64)?
            var allocated = Self.stat(image.path).map(Self.allocated) ?? 0
            for chunk in chunks where total > budget {
                let end = chunk.offset + Int64(chunk.length)
                run = run.map { $0.end == chunk.offset ? ($0.start, end) : (chunk.offset, end) } ?? (chunk.offset, end)
                guard mc_punch_hole(fd, run!.start, run!.end - run!.start) == 0 else { return false }
                let now = Self.stat(image.path).map(Self.allocated) ?? 0
                let freed = allocated - now
                allocated = now
                total -= freed
                trimmed.bytes += freed
                if freed > 0 { trimmed.chunks += 1 }
            }
            return true
        }
        func remove(_ image: Image) {
            let size = Self.stat(image.path).map(Self.allocated) ?? 0
            unlink(image.path)
            unlink(Self.manifestPath(ofImage: image.path))
            total -= size
            trimmed.bytes += size
            trimmed.images += 1
        }

        // Copies of chunks a current image holds: nothing is lost.
        for index in candidates.indices where total > budget {
            let copies = candidates[index].chunks()?.filter { keptDigests.contains($0.digest) } ?? []
            if !punch(&candidates[index], copies) { remove(candidates[index]) }
        }
        // Then the least recently used images, chunk by chunk; an image that loses every chunk goes whole.
        for index in candidates.indices where total > budget && FileManager.default.fileExists(atPath: candidates[index].path) {
            guard let chunks = candidates[index].chunks(), punch(&candidates[index], chunks) else {
                remove(candidates[index])
                continue
            }
            let image = candidates[index]
            if total > budget || (Self.stat(image.path).map(Self.allocated) ?? 0) == 0 { remove(image) }
        }
        if total > budget {
            logger?.warning(
                "the current images alone exceed the cache budget",
                metadata: ["budget_bytes": .stringConvertible(budget), "bytes": .stringConvertible(total), "images": .stringConvertible(kept.count)])
        }
        return trimmed
    }

    static func stat(_ path: String) -> Glibc.stat? {
        var info = Glibc.stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    static func allocated(_ info: Glibc.stat) -> Int64 { Int64(info.st_blocks) * 512 }

    /// Device and inode: the same for every name of one file.
    static func fileID(_ path: String) -> [UInt64] {
        guard let info = stat(path) else { return [0, 0] }
        return [UInt64(info.st_dev), UInt64(info.st_ino)]
    }

    static func modified(_ info: Glibc.stat) -> Date {
        Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }
}

/// Where a chunk lies in an assembled image.
struct ChunkLocation: Sendable, Hashable {
    var path: String
    var offset: Int64
    var length: Int
}

/// Reads chunks from assembled images (files opened once each, read with `pread`); remembers which images
/// it read from.
final class ChunkSource {
    private let locations: [String: ChunkLocation]
    private var files: [String: Int32] = [:]
    private(set) var used = Set<String>()

    init(_ locations: [String: ChunkLocation]) { self.locations = locations }

    deinit { for fd in files.values { close(fd) } }

    func has(_ digest: String) -> Bool { locations[digest] != nil }

    /// The bytes at the chunk's place (not verified: the caller hashes them); `nil` when there is no such
    /// chunk or it cannot be read whole.
    func read(_ digest: String) -> [UInt8]? {
        guard let location = locations[digest] else { return nil }
        let fd: Int32
        if let open = files[location.path] {
            fd = open
        } else {
            fd = Glibc.open(location.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            files[location.path] = fd
        }
        guard let bytes = ImageFile.read(fd, offset: location.offset, length: location.length) else { return nil }
        used.insert(location.path)
        return bytes
    }
}
