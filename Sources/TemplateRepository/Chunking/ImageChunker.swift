import Core
import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Cuts an image into content-defined chunks in one pass, hashing every chunk and the whole image as it
/// goes, with memory bounded whatever the image size.
///
/// The file is mapped, not copied. Three threads share the work: a scanner finds the cuts (Gear hash), a
/// hasher computes the whole image's SHA-256, and the calling thread hashes each chunk and hands it to
/// `onChunk`, in order. Neither helper runs more than a few windows ahead of the caller, and pages every
/// thread is done with are dropped from the mapping, so resident memory stays at a few windows.
///
/// ```swift
/// let image = try ImageChunker(parameters: .standard).chunk(path: "ubuntu.qcow2") { ref, bytes in
///     try store.put(ref.digest, bytes)
/// }
/// ```
public struct ImageChunker: Sendable {
    public let parameters: ChunkingParameters
    /// Bytes handed from thread to thread at a time (and the unit of read-ahead).
    public let readSize: Int
    /// How the digests are computed.
    let hashing: Hashing

    /// With the CPU's SHA extensions the calling thread computes each chunk's digest and the image's in one
    /// interleaved loop; without them a second thread hashes the whole image (swift-crypto).
    enum Hashing: Sendable {
        case automatic
        case software
    }

    public init(parameters: ChunkingParameters = .standard, readSize: Int = 8 << 20) {
        self.init(parameters: parameters, readSize: readSize, hashing: .automatic)
    }

    init(parameters: ChunkingParameters, readSize: Int, hashing: Hashing) {
        self.parameters = parameters
        self.readSize = max(readSize, 1)
        self.hashing = hashing
    }

    /// Chunks the file at `path`, calling `onChunk` for each chunk in order with its reference and bytes.
    ///
    /// The bytes are valid until `onChunk` returns — or, with a `borrower`, until the borrower's
    /// `releasedOffset` passes them: pages are kept mapped for it, and the mapping goes away only after
    /// its `returnBorrowed()`.
    /// - Throws: ``TemplateRepositoryError`` when the file cannot be read, or whatever `onChunk` throws.
    public func chunk(
        path: String, borrower: (any ChunkBorrower)? = nil, onChunk: (ChunkReference, UnsafeRawBufferPointer) throws -> Void
    ) throws -> ChunkedImage {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TemplateRepositoryError.unreadableImage(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw TemplateRepositoryError.unreadableImage(path: path, reason: "it is not a regular file")
        }
        let size = Int(info.st_size)
        if size == 0 {
            return try chunk(region: UnsafeRawBufferPointer(start: nil, count: 0), dropPages: false, borrower: borrower, onChunk: onChunk)
        }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw TemplateRepositoryError.unreadableImage(path: path, reason: String(cString: strerror(errno)))
        }
        defer { munmap(map, size) }
        madvise(map, size, MADV_SEQUENTIAL)
        return try chunk(region: UnsafeRawBufferPointer(start: map, count: size), dropPages: true, borrower: borrower, onChunk: onChunk)
    }

    /// Chunks in-memory bytes (tests, small inputs).
    public func chunk(bytes: [UInt8], onChunk: (ChunkReference, UnsafeRawBufferPointer) throws -> Void = { _, _ in }) throws -> ChunkedImage {
        try bytes.withUnsafeBytes { try chunk(region: $0, dropPages: false, borrower: nil, onChunk: onChunk) }
    }

    /// The three-thread pass over `region`. With `dropPages`, pages all threads are done with are given
    /// back (`MADV_DONTNEED`; the region must be a private file mapping).
    func chunk(
        region: UnsafeRawBufferPointer, dropPages: Bool, borrower: (any ChunkBorrower)?,
        onChunk: (ChunkReference, UnsafeRawBufferPointer) throws -> Void
    ) throws -> ChunkedImage {
        let shared = SharedRegion(region)
        let dual = hashing == .automatic && HardwareSHA256.isAvailable
        let flow = Flow(aheadLimit: 8 * readSize, dropPages: dropPages, region: shared, hasherThread: !dual, borrower: borrower)
        let handoff = Handoff(capacity: 4)
        let parameters = parameters
        let window = readSize
        let hasher = Thread {
            var sha = SHA256()
            var start = 0
            while start < shared.count, flow.waitToRead(from: start) {
                let end = min(shared.count, start + window)
                sha.update(bufferPointer: shared.slice(start..<end))
                flow.hashed(upTo: end)
                start = end
            }
            flow.finishHashing(sha.finalize().hexString)
        }
        let scanner = Thread {
            Self.scan(shared, parameters: parameters, window: window, flow: flow, handoff: handoff)
            flow.finishScanning()
        }
        if !dual { hasher.start() }
        scanner.start()
        // Whatever happens here, both threads and the borrower have stopped touching the region before this returns.
        defer {
            flow.cancel()
            handoff.cancel()
            flow.waitForThreads()
            borrower?.returnBorrowed()
        }
        var chunks: [ChunkReference] = []
        var offset: Int64 = 0
        var whole = dual ? HardwareSHA256() : nil
        while let ranges = handoff.take() {
            for range in ranges {
                let bytes = shared.slice(range)
                let digest: String
                if whole != nil {
                    var chunk = HardwareSHA256()
                    HardwareSHA256.update(&chunk, &whole!, with: bytes)
                    digest = chunk.finalizeHex()
                } else {
                    digest = SHA256.hash(data: bytes).hexString
                }
                let reference = ChunkReference(digest: digest, offset: offset, length: range.count)
                try onChunk(reference, bytes)
                chunks.append(reference)
                offset += Int64(range.count)
            }
            flow.consumed(upTo: Int(offset))
        }
        let digest = whole != nil ? whole!.finalizeHex() : flow.waitForDigest()
        return ChunkedImage(digest: digest, size: offset, chunks: chunks)
    }

    /// The scanner: cuts chunks and hands them on in batches of about one window.
    static func scan(_ region: SharedRegion, parameters: ChunkingParameters, window: Int, flow: Flow, handoff: Handoff) {
        let chunker = GearChunker(parameters: parameters)
        var start = 0
        var batch: [Range<Int>] = []
        var batchBytes = 0
        while start < region.count {
            guard flow.waitToRead(from: start) else { return }
            let limit = min(region.count, start + parameters.maximum)
            let length = chunker.boundary(in: region.slice(start..<limit), isEnd: limit == region.count)!
            batch.append(start..<(start + length))
            batchBytes += length
            start += length
            if batchBytes >= window {
                guard handoff.put(batch) else { return }
                batch = []
                batchBytes = 0
            }
        }
        if !batch.isEmpty { _ = handoff.put(batch) }
        handoff.close()
    }
}

/// Reads chunk bytes after `onChunk` returned (writer threads writing straight from the mapping).
public protocol ChunkBorrower: AnyObject, Sendable {
    /// The image offset below which no handed-over bytes are needed any more.
    var releasedOffset: Int64 { get }
    /// Returns once no handed-over bytes are read any more (called before the bytes go away, errors included).
    func returnBorrowed()
}

/// The image's bytes, shared read-only by the chunking threads, which all stop before it goes away.
struct SharedRegion: @unchecked Sendable {
    let base: UnsafeRawPointer?
    let count: Int

    init(_ buffer: UnsafeRawBufferPointer) {
        base = buffer.baseAddress
        count = buffer.count
    }

    func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base.map { $0 + range.lowerBound }, count: range.count)
    }
}

/// Progress of the three threads: keeps the helpers at most `aheadLimit` bytes past the caller, drops
/// pages behind everyone, and lets the caller wait for the helpers to finish.
final class Flow: @unchecked Sendable {
    private let condition = NSCondition()
    private let aheadLimit: Int
    private let dropPages: Bool
    private let region: SharedRegion
    private let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    private var consumedOffset = 0
    private var hashedOffset = 0
    private var droppedOffset = 0
    private var cancelled = false
    private var digest: String?
    private var scanning = true
    /// Whether a separate thread hashes the whole image (else the caller does, as it consumes).
    private let hasherThread: Bool
    private let borrower: (any ChunkBorrower)?

    init(aheadLimit: Int, dropPages: Bool, region: SharedRegion, hasherThread: Bool, borrower: (any ChunkBorrower)?) {
        self.aheadLimit = aheadLimit
        self.dropPages = dropPages
        self.region = region
        self.hasherThread = hasherThread
        self.borrower = borrower
    }

    /// Waits until `offset` is within the read-ahead limit; false when cancelled.
    func waitToRead(from offset: Int) -> Bool {
        condition.withLock {
            while !cancelled && offset - consumedOffset > aheadLimit { condition.wait() }
            return !cancelled
        }
    }

    func consumed(upTo offset: Int) {
        condition.withLock {
            consumedOffset = offset
            dropBehind()
            condition.broadcast()
        }
    }

    func hashed(upTo offset: Int) {
        condition.withLock {
            hashedOffset = offset
            dropBehind()
        }
    }

    /// Gives back whole pages the caller, the hasher and the borrower are past (the scanner is always ahead
    /// of the caller).
    private func dropBehind() {
        guard dropPages, let base = region.base else { return }
        var done = hasherThread ? min(consumedOffset, hashedOffset) : consumedOffset
        if let borrower { done = min(done, Int(borrower.releasedOffset)) }
        let safe = done / pageSize * pageSize
        if safe > droppedOffset {
            madvise(UnsafeMutableRawPointer(mutating: base + droppedOffset), safe - droppedOffset, MADV_DONTNEED)
            droppedOffset = safe
        }
    }

    func finishHashing(_ value: String) {
        condition.withLock {
            digest = value
            condition.broadcast()
        }
    }

    func finishScanning() {
        condition.withLock {
            scanning = false
            condition.broadcast()
        }
    }

    func waitForDigest() -> String {
        condition.withLock {
            while digest == nil { condition.wait() }
            return digest!
        }
    }

    func cancel() {
        condition.withLock {
            cancelled = true
            condition.broadcast()
        }
    }

    /// Waits until both helper threads are done with the region.
    func waitForThreads() {
        condition.withLock {
            while (hasherThread && digest == nil) || scanning { condition.wait() }
        }
    }
}

/// A bounded queue of chunk batches from the scanner to the caller.
final class Handoff: @unchecked Sendable {
    private let condition = NSCondition()
    private let capacity: Int
    private var batches: [[Range<Int>]] = []
    private var closed = false
    private var cancelled = false

    init(capacity: Int) { self.capacity = capacity }

    /// Queues a batch, waiting while the queue is full; false once cancelled.
    func put(_ batch: [Range<Int>]) -> Bool {
        condition.withLock {
            while batches.count >= capacity && !cancelled { condition.wait() }
            guard !cancelled else { return false }
            batches.append(batch)
            condition.broadcast()
            return true
        }
    }

    /// No more batches will come.
    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }

    /// The next batch, or nil when the scanner has finished.
    func take() -> [Range<Int>]? {
        condition.withLock {
            while batches.isEmpty && !closed { condition.wait() }
            if batches.isEmpty { return nil }
            let batch = batches.removeFirst()
            condition.broadcast()
            return batch
        }
    }

    func cancel() {
        condition.withLock {
            cancelled = true
            batches.removeAll()
            condition.broadcast()
        }
    }
}
