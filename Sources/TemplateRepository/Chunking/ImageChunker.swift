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
    func chunk(read: (UnsafeMutableRawBufferPointer) throws -> Int, onChunk: (ChunkReference, UnsafeRawBufferPointer) throws -> Void) throws
        -> ChunkedImage
    {
        let chunker = GearChunker(parameters: parameters)
        let capacity = parameters.maximum + readSize
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var start = 0
        var end = 0
        var atEnd = false
        var offset: Int64 = 0
        // The whole-image digest runs on a second core, fed copies of each block as it is read.
        let whole = BackgroundHasher()
        var chunks: [ChunkReference] = []
        while true {
            let pending = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
            if let length = chunker.boundary(in: pending, isEnd: atEnd) {
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + length)])
                let digest = SHA256.hash(data: bytes).hexString
                let reference = ChunkReference(digest: digest, offset: offset, length: length)
                try onChunk(reference, bytes)
                chunks.append(reference)
                offset += Int64(length)
                start += length
                continue
            }
            if atEnd { break }
            // Need more bytes: move what is pending to the front, then fill the rest.
            if start > 0 {
                let pendingCount = end - start
                if pendingCount > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: pendingCount) }
                start = 0
                end = pendingCount
            }
            let n = try read(UnsafeMutableRawBufferPointer(rebasing: buffer[end..<min(capacity, end + readSize)]))
            if n == 0 {
                atEnd = true
            } else {
                whole.update(UnsafeRawBufferPointer(rebasing: buffer[end..<(end + n)]))
                end += n
            }
        }
        return ChunkedImage(digest: whole.finalize(), size: offset, chunks: chunks)
    }
}

/// SHA-256 computed on a serial background queue, at most a few blocks behind the caller.
final class BackgroundHasher: @unchecked Sendable {
    private let queue = DispatchQueue(label: "mclouds.image-hash")
    private let inFlight = DispatchSemaphore(value: 4)
    // Touched only on `queue`.
    private var hasher = SHA256()

    /// Hashes a copy of `bytes` in the background; blocks while four blocks are already waiting.
    func update(_ bytes: UnsafeRawBufferPointer) {
        let copy = Data(bytes)
        inFlight.wait()
        queue.async {
            self.hasher.update(data: copy)
            self.inFlight.signal()
        }
    }

    /// Waits for the queued blocks and returns the hex digest.
    func finalize() -> String {
        queue.sync { hasher.finalize().hexString }
    }
}
