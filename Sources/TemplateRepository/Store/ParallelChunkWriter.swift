import Foundation

/// Stores chunks from several threads, so creating files and waiting for `fsync` overlap with hashing and
/// with each other (a disk answers several flushes at once far faster than one after another).
///
/// `submit` copies the bytes and returns at once unless `queueLimit` chunks are waiting; `finish` waits for
/// every write and reports what was new. The first failure stops the rest and is thrown by the next call.
final class ParallelChunkWriter: @unchecked Sendable {
    private let store: any ChunkStore
    private let condition = NSCondition()
    private let queueLimit: Int
    private var queue: [(digest: String, bytes: [UInt8])] = []
    private var submitted = Set<String>()
    private var running = 0
    private var closed = false
    private var failure: (any Error)?
    private var newChunks = 0
    private var newBytes: Int64 = 0

    init(store: any ChunkStore, threads: Int = 4, queueLimit: Int = 64) {
        self.store = store
        self.queueLimit = queueLimit
        running = threads
        for _ in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.stackSize = 512 << 10
            thread.start()
        }
    }

    /// Queues a chunk whose digest the caller computed. A digest already submitted, or already in the
    /// store, is skipped without copying its bytes.
    func submit(digest: String, bytes: UnsafeRawBufferPointer) throws {
        let seen = try condition.withLock {
            if let failure { throw failure }
            return !submitted.insert(digest).inserted
        }
        if try seen || store.contains(digest) { return }
        let copy = Array(bytes)
        try condition.withLock {
            while queue.count >= queueLimit && failure == nil { condition.wait() }
            if let failure { throw failure }
            queue.append((digest, copy))
            // Only workers wait while the queue is non-full: wake one.
            condition.signal()
        }
    }

    /// Waits for every queued write; returns the chunks and bytes that were new to the store.
    func finish() throws -> (chunks: Int, bytes: Int64) {
        try condition.withLock {
            closed = true
            condition.broadcast()
            while running > 0 { condition.wait() }
            if let failure { throw failure }
            return (newChunks, newBytes)
        }
    }

    /// Stops the workers without waiting for the queue (after an error elsewhere).
    func abandon() {
        condition.withLock {
            closed = true
            queue.removeAll()
            condition.broadcast()
            while running > 0 { condition.wait() }
        }
    }

    private func work() {
        while true {
            let next: (digest: String, bytes: [UInt8])? = condition.withLock {
                while queue.isEmpty && !closed && failure == nil { condition.wait() }
                guard failure == nil, !queue.isEmpty else { return nil }
                // The submitter waits only on a full queue: wake everyone then (rare), else nobody.
                if queue.count == queueLimit { condition.broadcast() }
                return queue.removeFirst()
            }
            guard let next else { break }
            do {
                let stored = try next.bytes.withUnsafeBytes { try store.putHashed(next.digest, $0) }
                condition.withLock {
                    if stored {
                        newChunks += 1
                        newBytes += Int64(next.bytes.count)
                    }
                }
            } catch {
                condition.withLock {
                    if failure == nil { failure = error }
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
