import Core
import Crypto
import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Cuts an image file into content-defined chunks in one streaming pass, hashing every chunk and the
/// whole image as it goes. Memory stays bounded by the maximum chunk size plus one read block, whatever
/// the image size.
///
/// ```swift
/// let image = try ImageChunker(parameters: .standard).chunk(path: "ubuntu.qcow2") { ref, bytes in
///     try store.put(ref.digest, bytes)
/// }
/// ```
public struct ImageChunker: Sendable {
    public let parameters: ChunkingParameters
    /// Bytes read from the file at a time.
    public let readSize: Int

    public init(parameters: ChunkingParameters = .standard, readSize: Int = 8 << 20) {
        self.parameters = parameters
        self.readSize = readSize
    }

    /// Reads `path` and calls `onChunk` for each chunk in order with its reference and bytes.
    /// - Throws: ``TemplateRepositoryError`` when the file cannot be read, or whatever `onChunk` throws.
    public func chunk(path: String, onChunk: (ChunkReference, UnsafeRawBufferPointer) throws -> Void) throws -> ChunkedImage {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TemplateRepositoryError.unreadableImage(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        return try chunk(
            read: { buffer in
                let n = read(fd, buffer.baseAddress, buffer.count)
                if n < 0 { throw TemplateRepositoryError.unreadableImage(path: path, reason: String(cString: strerror(errno))) }
                return n
            }, onChunk: onChunk)
    }

    /// Chunks in-memory bytes (tests, small inputs).
    public func chunk(bytes: [UInt8], onChunk: (ChunkReference, UnsafeRawBufferPointer) throws -> Void = { _, _ in }) throws -> ChunkedImage {
        var position = 0
        return try chunk(
            read: { buffer in
                let n = min(buffer.count, bytes.count - position)
                bytes.withUnsafeBytes { src in
                    buffer.baseAddress!.copyMemory(from: src.baseAddress! + position, byteCount: n)
                }
                position += n
                return n
            }, onChunk: onChunk)
    }

    /// The chunking loop over any byte source. `read` fills a buffer and returns the count (0 at the end).
    ///
    /// Work is spread over the cores: the image is read in segments; the whole-image SHA-256 of each
    /// segment runs on a serial background queue while this thread finds the segment's cuts, then the
    /// segment's chunks are hashed in parallel and handed to `onChunk` in order. A segment starts with the
    /// unfinished tail of the previous one, so every chunk lies within one segment.
    func chunk(read: (UnsafeMutableRawBufferPointer) throws -> Int, onChunk: (ChunkReference, UnsafeRawBufferPointer) throws -> Void) throws
        -> ChunkedImage
    {
        let chunker = GearChunker(parameters: parameters)
        let whole = BackgroundHasher()
        var chunks: [ChunkReference] = []
        var offset: Int64 = 0
        var carry: Segment?
        var carryRange = 0..<0
        var atEnd = false
        while !atEnd {
            let segment = Segment(capacity: parameters.maximum + readSize)
            // The unfinished tail of the previous segment comes first.
            if let carry, !carryRange.isEmpty {
                segment.buffer.baseAddress!.copyMemory(from: carry.buffer.baseAddress! + carryRange.lowerBound, byteCount: carryRange.count)
            }
            var end = carryRange.count
            let readStart = end
            while end < segment.buffer.count {
                let n = try read(UnsafeMutableRawBufferPointer(rebasing: segment.buffer[end...]))
                if n == 0 {
                    atEnd = true
                    break
                }
                end += n
            }
            if end > readStart { whole.update(segment, readStart..<end) }
            // Cuts of this segment; the last unfinished chunk waits for the next one.
            var ranges: [Range<Int>] = []
            var start = 0
            while start < end, let length = chunker.boundary(in: UnsafeRawBufferPointer(rebasing: segment.buffer[start..<end]), isEnd: atEnd) {
                ranges.append(start..<(start + length))
                start += length
            }
            carry = segment
            carryRange = start..<end
            let digests = Self.hashInParallel(segment, ranges)
            for (range, digest) in zip(ranges, digests) {
                let reference = ChunkReference(digest: digest, offset: offset, length: range.count)
                try onChunk(reference, UnsafeRawBufferPointer(rebasing: segment.buffer[range]))
                chunks.append(reference)
                offset += Int64(range.count)
            }
        }
        return ChunkedImage(digest: whole.finalize(), size: offset, chunks: chunks)
    }

    /// SHA-256 of each range, computed on all cores.
    static func hashInParallel(_ segment: Segment, _ ranges: [Range<Int>]) -> [String] {
        let digests = DigestSlots(count: ranges.count)
        // Groups of chunks per task keep the dispatch overhead small next to the hashing.
        let group = 8
        let tasks = (ranges.count + group - 1) / group
        DispatchQueue.concurrentPerform(iterations: tasks) { task in
            for i in (task * group)..<min(ranges.count, (task + 1) * group) {
                // Each task writes only its own slots.
                digests.slots[i] = SHA256.hash(data: UnsafeRawBufferPointer(rebasing: segment.buffer[ranges[i]]))
            }
        }
        return digests.slots.map { $0!.hexString }
    }
}

/// Result slots written by parallel tasks, each task its own indices.
private final class DigestSlots: @unchecked Sendable {
    let slots: UnsafeMutableBufferPointer<SHA256.Digest?>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }
    deinit { slots.deallocate() }
}

/// A block of image bytes shared by the chunking thread and the background hasher; freed when both are done.
final class Segment: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer

    init(capacity: Int) { buffer = .allocate(byteCount: capacity, alignment: 64) }
    deinit { buffer.deallocate() }
}

/// SHA-256 computed on a serial background queue, at most a few segments behind the caller.
final class BackgroundHasher: @unchecked Sendable {
    private let queue = DispatchQueue(label: "mclouds.image-hash")
    private let inFlight = DispatchSemaphore(value: 3)
    // Touched only on `queue`.
    private var hasher = SHA256()

    /// Hashes `segment[range]` in the background, keeping the segment alive until then; blocks while
    /// three segments are already waiting, which bounds memory.
    func update(_ segment: Segment, _ range: Range<Int>) {
        inFlight.wait()
        queue.async {
            self.hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: segment.buffer[range]))
            self.inFlight.signal()
        }
    }

    /// Waits for the queued segments and returns the hex digest.
    func finalize() -> String {
        queue.sync { hasher.finalize().hexString }
    }
}
