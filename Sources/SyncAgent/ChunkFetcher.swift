import AsyncHTTPClient
import Core
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import TemplateRepository

#if canImport(Glibc)
    import Glibc
#endif

/// Fetches chunks into the local cache: only those it lacks, several at a time, from any of the mirrors
/// (chunks are content-addressed, so any copy will do), each verified before it enters the cache.
///
/// An interrupted chunk keeps its partial file and resumes with `Range`; a mirror that sends more bytes
/// than the manifest says is cut off; corrupt bytes are discarded. Failures are retried with exponential
/// backoff and jitter, moving to the next mirror each time.
public struct ChunkFetcher: Sendable {
    public struct Policy: Sendable {
        public var parallel: Int = 8
        public var attempts: Int = 5
        public var initialBackoff: Duration = .milliseconds(200)
        public var maximumBackoff: Duration = .seconds(10)
        /// Longest time one chunk request may take in all.
        public var chunkTimeout: Duration = .seconds(300)
        /// A transfer with no bytes for this long counts as stalled: it is aborted and the chunk retried
        /// (resuming from what arrived).
        public var stallTimeout: Duration = .seconds(30)
        /// Bytes per second over all parallel downloads together; `nil` is unlimited.
        public var bandwidthLimit: Double?

        public init() {}
    }

    /// What a fetch did.
    public struct Report: Sendable, Hashable {
        public var downloadedChunks = 0
        /// Bytes that came over the network (resumed chunks count only their missing part).
        public var downloadedBytes: Int64 = 0
        public var reusedChunks = 0
        public var reusedBytes: Int64 = 0
        /// Attempts that failed and were retried.
        public var retries = 0

        mutating func add(_ fetched: Fetched) {
            downloadedChunks += 1
            downloadedBytes += fetched.transferred
            retries += fetched.retries
        }
    }

    public let mirrors: [String]
    public let cache: FileChunkStore
    public let partialDirectory: URL
    public let policy: Policy
    let httpClient: HTTPClient
    let logger: Logger
    let limiter: BandwidthLimiter?

    public init(
        mirrors: [String], cache: FileChunkStore, partialDirectory: URL, policy: Policy = Policy(), httpClient: HTTPClient = HTTPClients.shared,
        logger: Logger = Logger(label: "mclouds.agent.fetch")
    ) {
        self.mirrors = mirrors.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.cache = cache
        self.partialDirectory = partialDirectory
        self.policy = policy
        self.httpClient = httpClient
        self.logger = logger
        limiter = policy.bandwidthLimit.map { BandwidthLimiter(bytesPerSecond: $0) }
    }

    /// Makes every chunk of `chunks` present in the cache.
    /// - Parameter progress: called with the bytes fetched so far.
    /// - Throws: ``SyncAgentError`` when a chunk cannot be fetched from any mirror within the attempts.
    public func fetch(_ chunks: [ChunkReference], progress: (@Sendable (Int64) -> Void)? = nil) async throws -> Report {
        let (wanted, reused) = try plan(chunks)
        var report = reused
        let health = MirrorHealth()
        let watchdog = StallWatchdog(timeout: policy.stallTimeout)
        let monitor = Task { await watchdog.run() }
        defer { monitor.cancel() }
        try await withThrowingTaskGroup(of: Fetched.self) { group in
            var next = 0
            func startNext() {
                guard next < wanted.count else { return }
                let chunk = wanted[next]
                next += 1
                group.addTask { try await fetchOne(chunk, health: health, watchdog: watchdog, verify: true) }
            }
            for _ in 0..<max(1, policy.parallel) { startNext() }
            while let result = try await group.next() {
                report.add(result)
                progress?(report.downloadedBytes)
                startNext()
            }
        }
        return report
    }

    /// Fetches what the cache lacks of `manifest` and assembles its image at `destination` while the
    /// chunks arrive: each new chunk is hashed together with the whole image in one pass, enters the cache
    /// and the image only if it matches its digest (else it is fetched again), and the image is renamed
    /// into place only if it hashes to the signed digest. Memory stays bounded: at most a few chunks per
    /// parallel download wait for their turn.
    /// - Throws: ``SyncAgentError`` (`exhausted`, `imageMismatch`, `storage`); nothing is left at
    ///   `destination` then.
    public func fetchImage(_ manifest: TemplateManifest, to destination: String, progress: (@Sendable (Int64) -> Void)? = nil) async throws
        -> Report
    {
        let (wanted, reused) = try plan(manifest.chunks)
        var report = reused
        let health = MirrorHealth()
        let watchdog = StallWatchdog(timeout: policy.stallTimeout)
        let monitor = Task { await watchdog.run() }
        defer { monitor.cancel() }
        let parallel = max(1, policy.parallel)
        let window = max(16, parallel * 4)
        // Verified bytes of chunks the image uses again further on (the cache may not have them yet).
        var usesLeft: [String: Int] = [:]
        for chunk in manifest.chunks { usesLeft[chunk.digest, default: 0] += 1 }
        var writer = try ImageWriter(destination: destination)
        let image = writer.file
        let maximum = manifest.chunks.map(\.length).max() ?? 1
        // Cache and image writes run on threads of their own while this task hashes the next chunk.
        let store = ParallelChunkWriter(store: cache, maximumChunk: maximum, threads: 2, capacity: window)
        do {
            try await withThrowingTaskGroup(of: Fetched.self) { group in
                var next = 0
                var inFlight = Set<String>()
                var arrived: [String: Fetched] = [:]
                var verified: [String: [UInt8]] = [:]
                var corrupted: [String: Int] = [:]
                func start(_ chunk: ChunkReference, after failures: Int = 0) {
                    inFlight.insert(chunk.digest)
                    group.addTask {
                        if failures > 0 { try await Task.sleep(for: backoff(attempt: failures - 1)) }
                        return try await fetchOne(chunk, health: health, watchdog: watchdog, verify: false)
                    }
                }
                func fill() {
                    while inFlight.count < parallel && arrived.count < window && next < wanted.count {
                        start(wanted[next])
                        next += 1
                    }
                }
                fill()
                for chunk in manifest.chunks {
                    let offset = chunk.offset
                    let writeIntoImage: ParallelChunkWriter.AlsoWrite = { try image.write($0, at: offset) }
                    usesLeft[chunk.digest]! -= 1
                    while true {
                        if let bytes = verified[chunk.digest] {
                            if usesLeft[chunk.digest] == 0 { verified[chunk.digest] = nil }
                            bytes.withUnsafeBytes { writer.absorb($0) }
                            try store.submit(digest: chunk.digest, owned: bytes, also: writeIntoImage)
                            break
                        }
                        if let fetched = arrived.removeValue(forKey: chunk.digest) {
                            let bytes = fetched.bytes!
                            if bytes.withUnsafeBytes({ writer.absorbVerifying(chunk, $0) }) {
                                try store.submit(digest: chunk.digest, owned: bytes, also: writeIntoImage)
                                if usesLeft[chunk.digest]! > 0 { verified[chunk.digest] = bytes }
                                if fetched.leftPartial { unlink(partialDirectory.appendingPathComponent(chunk.digest).path) }
                                report.add(fetched)
                                progress?(report.downloadedBytes)
                                fill()
                                break
                            }
                            let failures = corrupted[chunk.digest, default: 0] + 1
                            corrupted[chunk.digest] = failures
                            let error = SyncAgentError.corrupt(digest: chunk.digest, url: fetched.source, actual: SHA256Stream.hex(bytes))
                            logger.warning(
                                "chunk fetch failed", metadata: ["digest": "\(chunk.digest)", "attempt": "\(failures)", "error": "\(error)"])
                            report.retries += 1
                            guard failures < policy.attempts else {
                                throw SyncAgentError.exhausted(digest: chunk.digest, attempts: policy.attempts, last: error)
                            }
                            start(chunk, after: failures)
                        } else if !inFlight.contains(chunk.digest), try cache.contains(chunk.digest) {
                            let bytes = try cache.get(chunk.digest)
                            try bytes.withUnsafeBytes { raw in
                                writer.absorb(raw)
                                try image.write(raw, at: offset)
                            }
                            break
                        }
                        guard let fetched = try await group.next() else { throw SyncAgentError.storage(destination, "a chunk went missing") }
                        inFlight.remove(fetched.digest)
                        arrived[fetched.digest] = fetched
                    }
                }
            }
            _ = try store.finish()
            try writer.finish(manifest)
        } catch {
            store.abandon()
            writer.abort()
            throw error
        }
        return report
    }

    /// Splits `chunks` into those to fetch (once each, in order) and a report of those already cached.
    private func plan(_ chunks: [ChunkReference]) throws -> (wanted: [ChunkReference], reused: Report) {
        try FileManager.default.createDirectory(at: partialDirectory, withIntermediateDirectories: true)
        var report = Report()
        var seen = Set<String>()
        var wanted: [ChunkReference] = []
        for chunk in chunks where seen.insert(chunk.digest).inserted {
            if try cache.contains(chunk.digest) {
                report.reusedChunks += 1
                report.reusedBytes += Int64(chunk.length)
            } else {
                wanted.append(chunk)
            }
        }
        return (wanted, report)
    }

    /// One chunk's transfer: its bytes (unless they went into the cache already), the bytes that came
    /// over the network, the failed attempts, and the last mirror.
    struct Fetched: Sendable {
        var digest: String
        var bytes: [UInt8]?
        var transferred: Int64
        var retries: Int
        var source: String
        /// Whether a partial file may exist (an earlier run's or a failed attempt's).
        var leftPartial: Bool
    }

    /// One chunk, with retries across mirrors. With `verify`, it is hashed and put into the cache here
    /// (a mismatch is retried); without, the caller verifies the returned bytes.
    func fetchOne(_ chunk: ChunkReference, health: MirrorHealth, watchdog: StallWatchdog, verify: Bool) async throws -> Fetched {
        let partial = partialDirectory.appendingPathComponent(chunk.digest).path
        // Bytes an earlier run left in the partial file were counted by that run.
        let heldAtStart = min(Self.fileSize(partial), chunk.length - 1)
        var lastError: any Error = SyncAgentError.unreachable("(no mirror)", "no mirror is configured")
        for attempt in 0..<max(1, policy.attempts) {
            guard !mirrors.isEmpty else { break }
            let mirror = health.pick(from: mirrors, turn: attempt + Int(chunk.digest.utf8.first!))
            do {
                let bytes = try await download(chunk, from: mirror, partial: partial, watchdog: watchdog)
                var fetched = Fetched(
                    digest: chunk.digest, bytes: bytes, transferred: Int64(chunk.length - heldAtStart), retries: attempt, source: mirror,
                    leftPartial: heldAtStart > 0 || attempt > 0)
                if verify {
                    let actual = SHA256Stream.hex(bytes)
                    guard actual == chunk.digest else {
                        unlink(partial)
                        throw SyncAgentError.corrupt(digest: chunk.digest, url: mirror, actual: actual)
                    }
                    try bytes.withUnsafeBytes { _ = try cache.putHashed(chunk.digest, $0) }
                    unlink(partial)
                    fetched.bytes = nil
                }
                return fetched
            } catch {
                if case .refused = (error as? SyncAgentError)?.kind { health.markDead(mirror) }
                lastError = error
                logger.warning(
                    "chunk fetch failed",
                    metadata: ["digest": "\(chunk.digest)", "mirror": "\(mirror)", "attempt": "\(attempt + 1)", "error": "\(error)"])
                if attempt + 1 < policy.attempts { try await Task.sleep(for: backoff(attempt: attempt)) }
            }
        }
        throw SyncAgentError.exhausted(digest: chunk.digest, attempts: policy.attempts, last: lastError)
    }

    /// Exponential backoff with full jitter: a random wait up to `initial × 2^attempt`, capped.
    func backoff(attempt: Int) -> Duration {
        let ceiling = min(policy.maximumBackoff, policy.initialBackoff * (1 << min(attempt, 20)))
        let nanoseconds = Double(ceiling.components.seconds) * 1e9 + Double(ceiling.components.attoseconds) / 1e9
        return .nanoseconds(Int64(Double.random(in: 0...1) * nanoseconds))
    }

    /// Downloads (or resumes) one chunk from one mirror and returns its bytes, not yet verified. What
    /// arrived before a failure is kept in the chunk's partial file for a ranged resume; bytes that cannot
    /// be right (too many) are discarded.
    private func download(_ chunk: ChunkReference, from mirror: String, partial: String, watchdog: StallWatchdog) async throws -> [UInt8] {
        var held: [UInt8] = []
        if Self.fileSize(partial) > 0, let data = FileManager.default.contents(atPath: partial), data.count < chunk.length { held = Array(data) }
        let url = "\(mirror)/api/v1/chunks/\(chunk.digest)"
        var request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: url)
        } catch {
            throw SyncAgentError.refused(url, "\(error)")
        }
        if !held.isEmpty { request.headers.add(name: "Range", value: "bytes=\(held.count)-") }
        // Once the answer's head is in, the watchdog cancels the transfer when it stalls (until then the
        // chunk timeout bounds the wait); the transfer reports progress to it.
        let handle = TransferHandle()
        let receiver = ChunkReceiver(held: held, chunk: chunk, url: url, partial: partial, limiter: limiter, watchdog: watchdog) {
            handle.cancel()
        }
        let task = httpClient.execute(request: request, delegate: receiver, deadline: .now() + TimeAmount(policy.chunkTimeout))
        handle.set { task.cancel() }
        do {
            let bytes = try await withTaskCancellationHandler {
                try await task.get()
            } onCancel: {
                task.cancel()
            }
            _ = receiver.finishWatching()
            return bytes
        } catch {
            // The task has ended: the event loop no longer touches the receiver.
            let stalled = receiver.finishWatching()
            if let error = error as? SyncAgentError, error.kind == .oversized { throw error }
            let received = receiver.received
            if receiver.bodyStarted, !received.isEmpty, received.count > held.count || !FileManager.default.fileExists(atPath: partial) {
                Self.savePartial(received, to: partial)
            }
            if stalled { throw SyncAgentError.stalled(url, watchdog.timeout) }
            if let error = error as? SyncAgentError { throw error }
            guard receiver.headReceived else { throw SyncAgentError.refused(url, "\(error)") }
            if Task.isCancelled {
                throw SyncAgentError.unreachable(url, "stopped (cancelled) after \(received.count) of \(chunk.length) bytes; resuming")
            }
            throw SyncAgentError.unreachable(url, "the transfer broke off after \(received.count) of \(chunk.length) bytes (\(error))")
        }
    }

    /// Keeps the bytes of an interrupted chunk (atomically: a resume never sees a half-written prefix).
    static func savePartial(_ bytes: [UInt8], to partial: String) {
        guard !bytes.isEmpty else { return }
        try? Data(bytes).write(to: URL(fileURLWithPath: partial), options: .atomic)
    }

    static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
}

/// Mirrors that refused connections during this fetch; they are skipped while any other remains.
final class MirrorHealth: Sendable {
    private let dead = Mutex<Set<String>>([])

    func markDead(_ mirror: String) { _ = dead.withLock { $0.insert(mirror) } }

    /// The mirror for this turn among the live ones (all of them when every one has failed).
    func pick(from mirrors: [String], turn: Int) -> String {
        let live = dead.withLock { dead in mirrors.filter { !dead.contains($0) } }
        let candidates = live.isEmpty ? mirrors : live
        return candidates[turn % candidates.count]
    }
}

/// How to cancel one transfer, for a watchdog registered before the transfer exists.
final class TransferHandle: Sendable {
    private let state = Mutex<(cancel: (@Sendable () -> Void)?, cancelled: Bool)>((nil, false))

    func set(_ cancel: @escaping @Sendable () -> Void) {
        let cancelled = state.withLock { state -> Bool in
            state.cancel = cancel
            return state.cancelled
        }
        if cancelled { cancel() }
    }

    func cancel() {
        let cancel = state.withLock { state -> (@Sendable () -> Void)? in
            state.cancelled = true
            return state.cancel
        }
        cancel?()
    }
}

/// Receives one chunk's answer on the connection's event loop, appending each part as it comes (no hop to
/// a task per part): checks the status against the resume it asked for, cuts off a body longer than the
/// manifest says, paces by the bandwidth limit (back-pressure on the connection) and, from the head on,
/// has the stall watchdog watch it.
///
/// Its state is touched only on the request's event loop until the request's task has ended; after that,
/// `received` is what arrived (for the partial file).
final class ChunkReceiver: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = [UInt8]

    private let heldCount: Int
    private let chunk: ChunkReference
    private let url: String
    private let partial: String
    private let limiter: BandwidthLimiter?
    private let watchdog: StallWatchdog
    private let cancel: @Sendable () -> Void
    private var watchID: Int?
    private(set) var received: [UInt8]
    private(set) var headReceived = false
    private(set) var bodyStarted = false

    init(
        held: [UInt8], chunk: ChunkReference, url: String, partial: String, limiter: BandwidthLimiter?, watchdog: StallWatchdog,
        cancel: @escaping @Sendable () -> Void
    ) {
        heldCount = held.count
        self.chunk = chunk
        self.url = url
        self.partial = partial
        self.limiter = limiter
        self.watchdog = watchdog
        self.cancel = cancel
        received = held
        received.reserveCapacity(chunk.length)
    }

    /// Stops the watchdog watching (call once the request's task has ended); true when it cancelled the
    /// transfer for stalling.
    func finishWatching() -> Bool {
        watchID.map { watchdog.finish($0) } ?? false
    }

    func didReceiveHead(task: HTTPClient.Task<[UInt8]>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        headReceived = true
        watchID = watchdog.register(cancel: cancel)
        switch head.status.code {
        case 206 where heldCount > 0: break
        case 200: received.removeAll(keepingCapacity: true)  // the whole chunk (the mirror ignored the range)
        case 416:
            unlink(partial)
            return task.eventLoop.makeFailedFuture(SyncAgentError.unreachable(url, "the mirror refused the resume range; starting the chunk over"))
        default:
            return task.eventLoop.makeFailedFuture(SyncAgentError.unreachable(url, "HTTP \(head.status.code)"))
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<[UInt8]>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        bodyStarted = true
        guard received.count + buffer.readableBytes <= chunk.length else {
            unlink(partial)
            received = []
            return task.eventLoop.makeFailedFuture(SyncAgentError.oversized(digest: chunk.digest, url: url, expected: chunk.length))
        }
        received.append(contentsOf: buffer.readableBytesView)
        if let watchID { watchdog.progress(watchID) }
        guard let limiter else { return task.eventLoop.makeSucceededVoidFuture() }
        let promise = task.eventLoop.makePromise(of: Void.self)
        let count = buffer.readableBytes
        promise.completeWithTask { try await limiter.pace(count) }
        return promise.futureResult
    }

    func didReceiveError(task: HTTPClient.Task<[UInt8]>, _ error: any Error) {}

    func didFinishRequest(task: HTTPClient.Task<[UInt8]>) throws -> [UInt8] {
        guard received.count == chunk.length else {
            throw SyncAgentError.unreachable(url, "the answer ended after \(received.count) of \(chunk.length) bytes; resuming next attempt")
        }
        return received
    }
}
