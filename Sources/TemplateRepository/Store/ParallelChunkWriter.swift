import Foundation

/// Stores chunks from several threads, so creating files and waiting for `fsync` overlap with hashing and
/// with each other (a disk answers several flushes at once far faster than one after another).
///
/// Two ways to hand a chunk over, each returning unless `capacity` chunks are already waiting or in writing:
/// `submit(digest:owned:)` takes an array (the site agent: chunks fresh from the network);
/// `submit(digest:borrowed:end:)` copies nothing and writes from the caller's memory, which the caller keeps
/// until ``releasedOffset`` passes it (a publish: the image's mapping). `finish` waits for every write and reports what was new. The first
/// failure stops the rest and is thrown by the next call.
///
/// Writer threads run at a lower priority than their submitter: on a machine with few cores, hashing (which
/// bounds a publish) would otherwise get a share of a core instead of a whole one; the writers catch up
/// whenever hashing waits for them.
///
/// A job may also write its bytes somewhere else (the site agent writes each chunk into the image it
/// assembles); that happens for every submission, stored chunk or not. Without a store, the writer only
/// does that.
public final class ParallelChunkWriter: @unchecked Sendable {
    /// A second destination for a chunk's bytes, run on a writer thread.
    public typealias AlsoWrite = @Sendable (UnsafeRawBufferPointer) throws -> Void

    private struct Job {
        var digest: String
        /// Bytes the job owns, or the caller's bytes.
        var owned: [UInt8]?
        var borrowed: UnsafeRawBufferPointer?
        /// For borrowed bytes: the submission's number (see `releasedOffset`).
        var sequence = 0
        var length: Int
        var store: Bool
        var also: AlsoWrite?

        func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
            if let borrowed { return try body(borrowed) }
            return try owned!.withUnsafeBytes(body)
        }
    }

    private let store: (any ChunkStore)?
    private let condition = NSCondition()
    /// Chunks that may wait or be in writing at once.
    private let capacity: Int
    private var queue: [Job] = []
    /// Jobs with owned bytes queued or in writing (at most `capacity`).
    private var ownedJobs = 0
    private var submitted = Set<String>()
    /// Borrowed submissions in order from number `pendingBase`: the image offset each ends at, and whether
    /// it is done; those before `firstPending` are all done.
    private var pending: [(end: Int64, done: Bool)] = []
    private var pendingBase = 0
    private var firstPending = 0
    private var released: Int64 = 0
    private var running = 0
    private var closed = false
    private var failure: (any Error)?
    private var newChunks = 0
    private var newBytes: Int64 = 0

    /// - Parameters:
    ///   - store: where chunks are stored; `nil` for a writer that only runs each submission's `also`.
    ///   - capacity: chunks that may wait or be in writing at once.
    public init(store: (any ChunkStore)?, threads: Int = 4, capacity: Int = 32) {
        self.store = store
        self.capacity = max(1, capacity)
        running = threads
        for _ in 0..<threads {
            let thread = Thread { [self] in
                // Lower priority than the submitter (see above; on Linux the nice value is per thread).
                #if os(Linux)
                    setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
                #endif
                work()
            }
            thread.stackSize = 512 << 10
            thread.start()
        }
    }

    /// Queues a chunk whose digest the caller computed, in bytes it hands over (no copy is made). A digest
    /// already submitted, or already in the store, is not stored again — and, without `also`, skipped.
    /// Waits while `capacity` such jobs are queued.
    public func submit(digest: String, owned bytes: [UInt8], also: AlsoWrite? = nil) throws {
        let store = try needsStoring(digest)
        if !store && also == nil { return }
        try condition.withLock {
            while ownedJobs >= capacity && failure == nil { condition.wait() }
            if let failure { throw failure }
            ownedJobs += 1
        }
        enqueue(Job(digest: digest, owned: bytes, length: bytes.count, store: store, also: also))
    }

    /// Like ``submit(digest:owned:also:)`` without `also` or a copy: a writer thread writes straight from `bytes`,
    /// which must stay valid until ``releasedOffset`` reaches `end` (the offset in the image where this chunk
    /// ends; submissions come in image order). Waits while `capacity` such jobs are queued.
    public func submit(digest: String, borrowed bytes: UnsafeRawBufferPointer, end: Int64) throws {
        let store = try needsStoring(digest)
        let sequence = try condition.withLock {
            while store && pending.count - firstPending >= capacity && failure == nil { condition.wait() }
            if let failure { throw failure }
            pending.append((end, false))
            let sequence = pendingBase + pending.count - 1
            // Only this thread waits on a submission it skips: nobody to wake.
            if !store { _ = done(sequence) }
            return sequence
        }
        if store { enqueue(Job(digest: digest, borrowed: bytes, sequence: sequence, length: bytes.count, store: true)) }
    }

    /// The image offset below which no borrowed bytes are needed any more.
    public var releasedOffset: Int64 { condition.withLock { released } }

    /// Returns once no writer reads borrowed bytes any more: every borrowed job is written, or the writers
    /// have stopped after a failure (which the next call reports).
    public func returnBorrowed() {
        condition.withLock {
            while firstPending < pending.count && running > 0 { condition.wait() }
        }
    }

    /// Marks a borrowed submission done and moves `released` past every done one in order (under the lock).
    /// Returns whether someone may be waiting for it: the submitter for room, or `returnBorrowed`.
    private func done(_ sequence: Int) -> Bool {
        let wasFull = pending.count - firstPending >= capacity
        pending[sequence - pendingBase].done = true
        while firstPending < pending.count && pending[firstPending].done {
            released = pending[firstPending].end
            firstPending += 1
        }
        if firstPending >= 1024 {
            pending.removeFirst(firstPending)
            pendingBase += firstPending
            firstPending = 0
        }
        return wasFull || firstPending == pending.count
    }

    /// Whether a submitted chunk is to be stored: not submitted before. One already in the store goes to a
    /// worker too, which verifies the stored copy (and replaces it when damaged), so that a publish never
    /// signs a version on a chunk it has not seen intact. Throws an earlier failure.
    private func needsStoring(_ digest: String) throws -> Bool {
        guard let store else {
            try condition.withLock { if let failure { throw failure } }
            return false
        }
        let seen = try condition.withLock {
            if let failure { throw failure }
            return !submitted.insert(digest).inserted
        }
        _ = store
        return !seen
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

    /// Frees a finished job's owned slot or borrowed range (under the lock); true when someone may be waiting.
    private func release(_ job: Job) -> Bool {
        if job.borrowed != nil { return done(job.sequence) }
        ownedJobs -= 1
        return ownedJobs == capacity - 1
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
                    let stored = try next.store && store!.putHashed(next.digest, bytes)
                    try next.also?(bytes)
                    return stored
                }
                condition.withLock {
                    if stored {
                        newChunks += 1
                        newBytes += Int64(next.length)
                    }
                    // Someone waits only when the queue was full or for the last borrowed job: wake them then, else nobody.
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

extension ParallelChunkWriter: ChunkBorrower {}
