import Foundation

/// Stores chunks from several threads, so creating files and waiting for `fsync` overlap with hashing and
/// with each other (a disk answers several flushes at once far faster than one after another).
///
/// `submit` copies the bytes into one of a fixed set of reused buffers (fresh memory for every chunk would
/// cost a page fault per 4 KiB) and returns unless all are in use; `finish` waits for every write and
/// reports what was new. The first failure stops the rest and is thrown by the next call.
///
/// A job may also write its bytes somewhere else (the site agent writes each chunk into the image it
/// assembles as well as into its cache); that happens for every submission, stored chunk or not.
public final class ParallelChunkWriter: @unchecked Sendable {
    /// A second destination for a chunk's bytes, run on a writer thread.
    public typealias AlsoWrite = @Sendable (UnsafeRawBufferPointer) throws -> Void

    private struct Job {
        var digest: String
        /// A pooled buffer (returned to the pool when written), or bytes the job owns.
        var buffer: UnsafeMutableRawBufferPointer?
        var owned: [UInt8]?
        var length: Int
        var store: Bool
        var also: AlsoWrite?

        func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
            if let buffer { return try body(UnsafeRawBufferPointer(rebasing: buffer[0..<length])) }
            return try owned!.withUnsafeBytes(body)
        }
    }

    private let store: any ChunkStore
    private let condition = NSCondition()
    private var free: [UnsafeMutableRawBufferPointer]
    private let buffers: [UnsafeMutableRawBufferPointer]
    private var queue: [Job] = []
    /// Jobs with owned bytes queued or in writing (bounded like the pool).
    private var ownedJobs = 0
    private var submitted = Set<String>()
    private var running = 0
    private var closed = false
    private var failure: (any Error)?
    private var newChunks = 0
    private var newBytes: Int64 = 0

    /// - Parameters:
    ///   - maximumChunk: the largest chunk that will be submitted.
    ///   - buffers: chunks that may wait or be in writing at once.
    public init(store: any ChunkStore, maximumChunk: Int, threads: Int = 4, buffers count: Int = 32) {
        self.store = store
        buffers = (0..<count).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: maximumChunk, alignment: 64) }
        free = buffers
        running = threads
        for _ in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.stackSize = 512 << 10
            thread.start()
        }
    }

    deinit {
        for buffer in buffers { buffer.deallocate() }
    }

    /// Queues a chunk whose digest the caller computed. A digest already submitted, or already in the
    /// store, is not stored again — and, without `also`, skipped without copying its bytes.
    public func submit(digest: String, bytes: UnsafeRawBufferPointer, also: AlsoWrite? = nil) throws {
        let seen = try condition.withLock {
            if let failure { throw failure }
            return !submitted.insert(digest).inserted
        }
        let store = try !seen && !self.store.contains(digest)
        if !store && also == nil { return }
        let buffer = try condition.withLock {
            while free.isEmpty && failure == nil { condition.wait() }
            if let failure { throw failure }
            return free.removeLast()
        }
        buffer.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        enqueue(Job(digest: digest, buffer: buffer, length: bytes.count, store: store, also: also))
    }

    /// Like ``submit(digest:bytes:also:)`` for bytes the caller hands over: no copy is made. Waits while
    /// as many such jobs as the pool has buffers are queued.
    public func submit(digest: String, owned bytes: [UInt8], also: AlsoWrite? = nil) throws {
        let seen = try condition.withLock {
            if let failure { throw failure }
            return !submitted.insert(digest).inserted
        }
        let store = try !seen && !self.store.contains(digest)
        if !store && also == nil { return }
        try condition.withLock {
            while ownedJobs >= buffers.count && failure == nil { condition.wait() }
            if let failure { throw failure }
            ownedJobs += 1
        }
        enqueue(Job(digest: digest, owned: bytes, length: bytes.count, store: store, also: also))
    }

    private func enqueue(_ job: Job) {
        condition.withLock {
            queue.append(job)
            // Only idle workers wait while a job is queued (the submitter is here): wake one.
            condition.signal()
        }
    }

    /// Waits for every queued write; returns the chunks and bytes that were new to the store.
    public func finish() throws -> (chunks: Int, bytes: Int64) {
        try condition.withLock {
            closed = true
            condition.broadcast()
            while running > 0 { condition.wait() }
            if let failure { throw failure }
            return (newChunks, newBytes)
        }
    }

    /// Stops the workers without waiting for the queue (after an error elsewhere).
    public func abandon() {
        condition.withLock {
            closed = true
            queue.removeAll()
            condition.broadcast()
            while running > 0 { condition.wait() }
        }
    }

    /// Returns a finished job's buffer or owned slot (under the lock); true when the submitter may be waiting.
    private func release(_ job: Job) -> Bool {
        if let buffer = job.buffer {
            free.append(buffer)
            return free.count == 1
        }
        ownedJobs -= 1
        return ownedJobs == buffers.count - 1
    }

    private func work() {
        while true {
            let next: Job? = condition.withLock {
                while queue.isEmpty && !closed && failure == nil { condition.wait() }
                guard failure == nil, !queue.isEmpty else { return nil }
                return queue.removeFirst()
            }
            guard let next else { break }
            do {
                let stored = try next.withBytes { bytes in
                    let stored = try next.store && store.putHashed(next.digest, bytes)
                    try next.also?(bytes)
                    return stored
                }
                condition.withLock {
                    if stored {
                        newChunks += 1
                        newBytes += Int64(next.length)
                    }
                    // The submitter waits only when nothing is free: wake it then, else nobody.
                    if release(next) { condition.broadcast() }
                }
            } catch {
                condition.withLock {
                    if failure == nil { failure = error }
                    _ = release(next)
                    condition.broadcast()
                }
            }
        }
        condition.withLock {
            running -= 1
            condition.broadcast()
        }
    }
}
