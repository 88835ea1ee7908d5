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

/// Fetches the chunks of a template version this site lacks and assembles its image: several chunks at a
/// time, from any of the mirrors (chunks are content-addressed, so any copy will do), each verified before
/// it is written. Chunks the site's other images hold (``ImageCache``) are read from there, not fetched.
///
/// An interrupted chunk keeps its partial file and resumes with `Range`; a mirror that sends more bytes
/// than the manifest says is cut off; corrupt bytes are discarded. Failures are retried with exponential
/// backoff and jitter, moving to the next mirror each time. An interrupted image keeps its verified chunks
/// for the next sync.
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
        /// Chunks (each digest once) and their bytes taken from this site's disk: other images, or the
        /// partial image an interrupted sync left.
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
    public let images: ImageCache
    public let partialDirectory: URL
    public let policy: Policy
    let httpClient: HTTPClient
    let logger: Logger
    let limiter: BandwidthLimiter?
    /// Per mirror (base URL), the token sent with its chunk requests (the central server's, for partner-only
    /// templates' chunks); other mirrors get none.
    let tokens: [String: String]

    /// - Parameters:
    ///   - images: where images are assembled, and whose chunks are reused.
    ///   - partialDirectory: where interrupted chunk downloads are kept for a ranged resume.
    public init(
        mirrors: [String], images: ImageCache, partialDirectory: URL, policy: Policy = Policy(), httpClient: HTTPClient = HTTPClients.shared,
        tokens: [String: String] = [:], logger: Logger = Logger(label: "mclouds.agent.fetch")
    ) {
        func base(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }
        self.mirrors = mirrors.map(base)
        self.tokens = Dictionary(tokens.map { (base($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
        self.images = images
        self.partialDirectory = partialDirectory
        self.policy = policy
        self.httpClient = httpClient
        self.logger = logger
        limiter = policy.bandwidthLimit.map { BandwidthLimiter(bytesPerSecond: $0) }
    }

    /// Fetches what this site lacks of `manifest` and assembles its image at `images.path(for:)` while the
    /// chunks arrive: each chunk — fetched, or read from another image — is hashed together with the whole
    /// image in one pass and written only if it matches its digest (else it is fetched again), and the
    /// image is renamed into place only if it hashes to the signed digest. Chunks a killed or failed
    /// earlier sync left verified in the partial image are kept. Memory stays bounded: at most a few chunks
    /// per parallel download wait for their turn.
    /// - Throws: ``SyncAgentError`` (`exhausted`, `imageMismatch`, `storage`); nothing is at the image's
    ///   place then (after `exhausted`, the partial image keeps what was verified).
    @discardableResult
    public func fetchImage(_ manifest: TemplateManifest, progress: (@Sendable (Int64) -> Void)? = nil) async throws -> Report {
        let destination = images.path(for: manifest)
        do {
            try FileManager.default.createDirectory(at: partialDirectory, withIntermediateDirectories: true)
        } catch {
            throw SyncAgentError.storage(partialDirectory.path, error.localizedDescription)
        }
        var writer = try ImageWriter(destination: destination, manifest: manifest)
        let image = writer.file
        let resumed = writer.resumed
        let sources = ChunkSource(images.locations(of: Set(manifest.chunks.map(\.digest))))

        // Each digest once: in the partial image already, in another image, or to fetch.
        var report = Report()
        var wanted: [ChunkReference] = []
        var planned = Set<String>()
        for chunk in manifest.chunks where planned.insert(chunk.digest).inserted {
            if resumed.locations[chunk.digest] != nil || sources.has(chunk.digest) {
                report.reusedChunks += 1
                report.reusedBytes += Int64(chunk.length)
            } else {
                wanted.append(chunk)
            }
        }
        let health = MirrorHealth()
        let watchdog = StallWatchdog(timeout: policy.stallTimeout)
        let monitor = Task { await watchdog.run() }
        defer { monitor.cancel() }
        let parallel = max(1, policy.parallel)
        let window = max(16, parallel * 4)
        // Verified bytes of chunks the image uses again further on.
        var usesLeft: [String: Int] = [:]
        for chunk in manifest.chunks[resumed.prefix...] { usesLeft[chunk.digest, default: 0] += 1 }
        // Image writes run on threads of their own while this task hashes the next chunk.
        let store = ParallelChunkWriter(store: nil, threads: 2, capacity: window)
        do {
            try await withThrowingTaskGroup(of: Fetched.self) { group in
                var next = 0
                var inFlight = Set<String>()
                var arrived: [String: Fetched] = [:]
                var verified: [String: [UInt8]] = [:]
                var corrupted: [String: Int] = [:]
                // Digests whose copy on this disk did not verify (they are fetched instead).
                var damaged = Set<String>()
                /// Mirror turns each chunk has used: a retry after a corrupt answer goes on to the next mirror
                /// instead of starting the rotation over (which asked the same bad mirror every time).
                var turns: [String: Int] = [:]
                /// Mirrors whose answers for a chunk did not verify (for the error when its attempts run out).
                var triedFor: [String: [String]] = [:]
                func start(_ chunk: ChunkReference, after failures: Int = 0) {
                    inFlight.insert(chunk.digest)
                    let turn = turns[chunk.digest, default: 0]
                    group.addTask {
                        if failures > 0 { try await Task.sleep(for: backoff(attempt: failures - 1)) }
                        return try await fetchOne(chunk, health: health, watchdog: watchdog, turn: turn)
                    }
                }
                func fill() {
                    while inFlight.count < parallel && arrived.count < window && next < wanted.count {
                        start(wanted[next])
                        next += 1
                    }
                }
                /// Whether the chunk is to come from this disk (planned so, and its copy here not found damaged).
                func isLocal(_ chunk: ChunkReference) -> Bool {
                    !damaged.contains(chunk.digest) && (resumed.locations[chunk.digest] != nil || sources.has(chunk.digest))
                }
                /// The chunk's bytes from this disk (not yet verified); `nil` when they cannot be read.
                func local(_ chunk: ChunkReference) -> [UInt8]? {
                    if let offset = resumed.locations[chunk.digest] { return image.read(offset: offset, length: chunk.length) }
                    return sources.read(chunk.digest)
                }
                fill()
                for chunk in manifest.chunks[resumed.prefix...] {
                    let offset = chunk.offset
                    let writeIntoImage: ParallelChunkWriter.AlsoWrite = { try image.write($0, at: offset) }
                    usesLeft[chunk.digest]! -= 1
                    if resumed.inPlace.contains(offset), let bytes = image.read(offset: offset, length: chunk.length) {
                        // In place since an earlier sync (verified then): only the whole-image hash takes it.
                        bytes.withUnsafeBytes { writer.absorb($0) }
                        continue
                    }
                    while true {
                        if let bytes = verified[chunk.digest] {
                            if usesLeft[chunk.digest] == 0 { verified[chunk.digest] = nil }
                            bytes.withUnsafeBytes { writer.absorb($0) }
                            try store.submit(digest: chunk.digest, owned: bytes, also: writeIntoImage)
                            break
                        }
                        if let fetched = arrived.removeValue(forKey: chunk.digest) {
                            let bytes = fetched.bytes
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
                            turns[chunk.digest, default: 0] += fetched.retries + 1
                            let error = SyncAgentError.corrupt(digest: chunk.digest, url: fetched.source, actual: SHA256Stream.hex(bytes))
                            logger.warning(
                                "chunk fetch failed",
                                metadata: ["digest": "\(chunk.digest)", "attempt": .stringConvertible(failures), "error": "\(error)"])
                            report.retries += 1
                            if !triedFor[chunk.digest, default: []].contains(fetched.source) {
                                triedFor[chunk.digest, default: []].append(fetched.source)
                            }
                            guard failures < policy.attempts else {
                                throw SyncAgentError.exhausted(
                                    digest: chunk.digest, attempts: policy.attempts, mirrors: triedFor[chunk.digest] ?? [], last: error)
                            }
                            start(chunk, after: failures)
                        } else if !inFlight.contains(chunk.digest), isLocal(chunk) {
                            if let bytes = local(chunk), bytes.withUnsafeBytes({ writer.absorbVerifying(chunk, $0) }) {
                                try store.submit(digest: chunk.digest, owned: bytes, also: writeIntoImage)
                                if usesLeft[chunk.digest]! > 0 { verified[chunk.digest] = bytes }
                                break
                            }
                            // A damaged, trimmed or vanished copy: fetch the chunk instead.
                            damaged.insert(chunk.digest)
                            report.reusedChunks -= 1
                            report.reusedBytes -= Int64(chunk.length)
                            logger.warning(
                                "a chunk on this disk cannot be read or does not verify; fetching it", metadata: ["digest": "\(chunk.digest)"])
                            start(chunk)
                        }
                        guard let fetched = try await group.next() else { throw SyncAgentError.storage(destination, "a chunk went missing") }
                        inFlight.remove(fetched.digest)
                        arrived[fetched.digest] = fetched
                    }
                }
            }
            _ = try store.finish()
            try writer.finish(manifest, cache: images)
        } catch {
            if (error as? SyncAgentError)?.kind == .imageMismatch {
                store.abandon()
                writer.discard()
            } else {
                // The queued chunks are verified: let them reach the partial image for the next sync.
                _ = try? store.finish()
                writer.suspend()
            }
            throw error
        }
        images.touch(sources.used)
        return report
    }

    /// One chunk's transfer: its bytes (not yet verified), the bytes that came over the network, the
    /// failed attempts, and the last mirror.
    struct Fetched: Sendable {
        var digest: String
        var bytes: [UInt8]
        var transferred: Int64
        var retries: Int
        var source: String
        /// Whether a partial file may exist (an earlier run's or a failed attempt's).
        var leftPartial: Bool
    }

    /// One chunk, with retries across mirrors; the caller verifies the returned bytes. `turn` is how many mirror
    /// turns the chunk has had already (the rotation goes on from there).
    func fetchOne(_ chunk: ChunkReference, health: MirrorHealth, watchdog: StallWatchdog, turn: Int = 0) async throws -> Fetched {
        let partial = partialDirectory.appendingPathComponent(chunk.digest).path
        // Bytes an earlier run left in the partial file were counted by that run.
        let heldAtStart = min(Self.fileSize(partial), chunk.length - 1)
        var lastError: any Error = SyncAgentError.unreachable("(no mirror)", "no mirror is configured")
        var tried: [String] = []
        for attempt in 0..<max(1, policy.attempts) {
            guard !mirrors.isEmpty else { break }
            let mirror = health.pick(from: mirrors, turn: turn + attempt + Int(chunk.digest.utf8.first!))
            if !tried.contains(mirror) { tried.append(mirror) }
            do {
                let bytes = try await download(chunk, from: mirror, partial: partial, watchdog: watchdog)
                return Fetched(
                    digest: chunk.digest, bytes: bytes, transferred: Int64(chunk.length - heldAtStart), retries: attempt, source: mirror,
                    leftPartial: heldAtStart > 0 || attempt > 0)
            } catch {
                if case .refused = (error as? SyncAgentError)?.kind { health.markDead(mirror) }
                lastError = error
                logger.warning(
                    "chunk fetch failed",
                    metadata: ["digest": "\(chunk.digest)", "mirror": "\(mirror)", "attempt": .stringConvertible(attempt + 1), "error": "\(error)"])
                if attempt + 1 < policy.attempts { try await Task.sleep(for: backoff(attempt: attempt)) }
            }
        }
        throw SyncAgentError.exhausted(digest: chunk.digest, attempts: policy.attempts, mirrors: tried, last: lastError)
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
        if let token = tokens[mirror] { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        // From the request on the wire, the watchdog cancels the transfer when nothing comes for the stall
        // timeout (before that, the connect timeout bounds the wait); the transfer reports progress to it.
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
            if stalled {
                throw receiver.headReceived
                    ? SyncAgentError.stalled(url, watchdog.timeout) : SyncAgentError.refused(url, "no answer within \(watchdog.timeout)")
            }
            if let error = error as? SyncAgentError { throw error }
            guard receiver.headReceived else { throw SyncAgentError.refused(url, "\(error)") }
            if Task.isCancelled {
                throw SyncAgentError.unreachable(url, "stopped (cancelled) after \(received.count) of \(chunk.length) bytes; resuming")
            }
            throw SyncAgentError.unreachable(url, "the transfer broke off after \(received.count) of \(chunk.length) bytes (\(error))")
        }
    }

    /// Removes interrupted chunk downloads of chunks no longer wanted.
    public func removePartialChunks(keeping wanted: Set<String>) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: partialDirectory.path)) ?? [] where !wanted.contains(name) {
            unlink(partialDirectory.appendingPathComponent(name).path)
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

    /// The watchdog watches from the moment the request is on the wire (the connect has its own timeout): a
    /// mirror that accepts and never answers stalls like one that stops mid-body.
    func didSendRequestHead(task: HTTPClient.Task<[UInt8]>, _ head: HTTPRequestHead) {
        if watchID == nil { watchID = watchdog.register(cancel: cancel) }
    }

    func didReceiveHead(task: HTTPClient.Task<[UInt8]>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        headReceived = true
        if watchID == nil { watchID = watchdog.register(cancel: cancel) } else { watchdog.progress(watchID!) }
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
