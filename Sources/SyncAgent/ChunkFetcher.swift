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
        /// Longest time one chunk request may take before it counts as stalled and is retried.
        public var chunkTimeout: Duration = .seconds(60)

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
    }

    public let mirrors: [String]
    public let cache: FileChunkStore
    public let partialDirectory: URL
    public var policy: Policy
    let httpClient: HTTPClient
    let logger: Logger

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
    }

    /// Makes every chunk of `chunks` present in the cache.
    /// - Parameter progress: called with the bytes fetched so far.
    /// - Throws: ``SyncAgentError`` when a chunk cannot be fetched from any mirror within the attempts.
    public func fetch(_ chunks: [ChunkReference], progress: (@Sendable (Int64) -> Void)? = nil) async throws -> Report {
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
        let health = MirrorHealth()
        try await withThrowingTaskGroup(of: (bytes: Int64, retries: Int).self) { group in
            var next = 0
            var fetched: Int64 = 0
            func startNext() {
                guard next < wanted.count else { return }
                let chunk = wanted[next]
                next += 1
                group.addTask { try await fetchOne(chunk, health: health) }
            }
            for _ in 0..<max(1, policy.parallel) { startNext() }
            while let result = try await group.next() {
                report.downloadedChunks += 1
                report.downloadedBytes += result.bytes
                report.retries += result.retries
                fetched += result.bytes
                progress?(fetched)
                startNext()
            }
        }
        return report
    }

    /// One chunk, with retries across mirrors. Returns the bytes transferred and the failed attempts.
    func fetchOne(_ chunk: ChunkReference, health: MirrorHealth) async throws -> (bytes: Int64, retries: Int) {
        let partial = partialDirectory.appendingPathComponent(chunk.digest).path
        var transferred: Int64 = 0
        var lastError: any Error = SyncAgentError.unreachable("(no mirror)", "no mirror is configured")
        for attempt in 0..<max(1, policy.attempts) {
            guard !mirrors.isEmpty else { break }
            let mirror = health.pick(from: mirrors, turn: attempt + Int(chunk.digest.utf8.first!))
            do {
                transferred += try await download(chunk, from: mirror, partial: partial)
                return (transferred, attempt)
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

    /// Downloads (or resumes) one chunk from one mirror into its partial file, verifies it and moves it into
    /// the cache. Returns the bytes received.
    private func download(_ chunk: ChunkReference, from mirror: String, partial: String) async throws -> Int64 {
        var have = Self.fileSize(partial)
        if have >= chunk.length {
            unlink(partial)
            have = 0
        }
        let url = "\(mirror)/api/v1/chunks/\(chunk.digest)"
        var request = HTTPClientRequest(url: url)
        if have > 0 { request.headers.add(name: "Range", value: "bytes=\(have)-") }
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(
                request, timeout: TimeAmount.nanoseconds(Int64(policy.chunkTimeout.components.seconds) * 1_000_000_000))
        } catch {
            throw SyncAgentError.refused(url, "\(error)")
        }
        switch response.status.code {
        case 206 where have > 0: break
        case 200: have = 0  // the whole chunk (the mirror ignored the range)
        case 416:
            unlink(partial)
            throw SyncAgentError.unreachable(url, "the mirror refused the resume range; starting the chunk over")
        default:
            throw SyncAgentError.unreachable(url, "HTTP \(response.status.code)")
        }
        let fd = open(partial, O_WRONLY | O_CREAT | O_CLOEXEC | (have == 0 ? O_TRUNC : O_APPEND), 0o644)
        guard fd >= 0 else { throw SyncAgentError.storage(partial, String(cString: strerror(errno))) }
        var received: Int64 = 0
        do {
            defer { close(fd) }
            for try await buffer in response.body {
                if have + Int(received) + buffer.readableBytes > chunk.length {
                    unlink(partial)
                    throw SyncAgentError.oversized(digest: chunk.digest, url: url, expected: chunk.length)
                }
                let written = buffer.withUnsafeReadableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                guard written == buffer.readableBytes else { throw SyncAgentError.storage(partial, String(cString: strerror(errno))) }
                received += Int64(written)
            }
        } catch let error as SyncAgentError {
            throw error
        } catch {
            // A broken connection: what arrived stays in the partial file for a ranged resume.
            throw SyncAgentError.unreachable(url, "the transfer broke off after \(have + Int(received)) of \(chunk.length) bytes (\(error))")
        }
        guard have + Int(received) == chunk.length else {
            throw SyncAgentError.unreachable(url, "the answer ended after \(have + Int(received)) of \(chunk.length) bytes; resuming next attempt")
        }
        guard let bytes = FileManager.default.contents(atPath: partial) else { throw SyncAgentError.storage(partial, "it cannot be read back") }
        let actual = SHA256.hash(data: bytes).hexString
        guard actual == chunk.digest else {
            unlink(partial)
            throw SyncAgentError.corrupt(digest: chunk.digest, url: url, actual: actual)
        }
        try cache.put(chunk.digest, bytes: Array(bytes))
        unlink(partial)
        return received
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
