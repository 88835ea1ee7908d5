import Core
import Crypto
import Foundation
import Hummingbird
import NIOCore
import Server
import SyncAgent
import TemplateRepository
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Site agent: verified chunk fetching and image assembly")
struct FetchTests {
    /// The same chunks as `manifest`, as another version (an image with nothing new).
    func sameChunks(_ manifest: TemplateManifest, version: String) -> TemplateManifest {
        var copy = manifest
        copy.version = version
        return copy
    }

    @Test("a fresh site fetches every chunk and assembles the signed image; a version with the same chunks then moves nothing")
    func freshThenIdle() async throws {
        let image = try randomImage(400_000)
        try await withPublishedServer(image: image) { server, repository, _, directory in
            let reader = CatalogReader(
                client: RepositoryClient(baseURL: server.baseURL), trusted: [repository.key.publicKey],
                stateFile: directory.appendingPathComponent("state.json").path)
            let catalog = try await reader.catalog()
            let manifest = try await reader.manifest(for: catalog.entries[0])
            let fetcher = try siteFetcher(mirrors: [server.baseURL], in: directory)
            let first = try await fetcher.fetchImage(manifest)
            #expect(first.downloadedBytes == Int64(image.count) && first.reusedChunks == 0 && first.retries == 0)
            let path = fetcher.images.path(for: manifest)
            #expect(FileManager.default.contents(atPath: path) == Data(image))
            // The manifest lies beside the image, and nothing else is left.
            #expect(
                Set(try FileManager.default.contentsOfDirectory(atPath: fetcher.images.directory.path)) == [
                    "ubuntu-1.qcow2", "ubuntu-1.qcow2.manifest",
                ])
            #expect(reader.lastSerial == catalog.serial)

            let again = sameChunks(manifest, version: "2")
            let second = try await fetcher.fetchImage(again)
            #expect(second.downloadedChunks == 0 && second.downloadedBytes == 0 && second.retries == 0)
            #expect(second.reusedChunks == manifest.chunks.count && second.reusedBytes == Int64(image.count))
            #expect(FileManager.default.contents(atPath: fetcher.images.path(for: again)) == Data(image))
        }
    }

    @Test("corrupt, truncated, oversized and failing answers are retried; truncated chunks resume with Range; a dead mirror is skipped")
    func faults() async throws {
        let image = try randomImage(200_000)
        try await withPublishedServer(image: image) { _, repository, manifest, directory in
            let mirror = try FaultyMirror(serving: manifest, from: repository)
            let digests = manifest.chunks.map(\.digest)
            mirror.plan(digests[0], [.corrupt])
            mirror.plan(digests[1], [.truncate])
            mirror.plan(digests[2], [.oversize, .fail500])
            try await mirror.withRunning { url in
                var policy = ChunkFetcher.Policy()
                policy.initialBackoff = .milliseconds(5)
                policy.parallel = 3
                let fetcher = try siteFetcher(mirrors: ["http://127.0.0.1:9", url], in: directory, policy: policy)
                let report = try await fetcher.fetchImage(manifest)
                #expect(report.retries >= 4)
                #expect(mirror.rangeRequests >= 1)
                #expect(FileManager.default.contents(atPath: fetcher.images.path(for: manifest)) == Data(image))
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("site/partial").path).isEmpty)
            }
        }
    }

    @Test("a mirror that keeps sending wrong bytes: the retries rotate to the good mirror instead of asking the bad one again")
    func retriesRotateMirrors() async throws {
        let image = try randomImage(200_000)
        try await withPublishedServer(image: image) { server, repository, manifest, directory in
            let bad = try FaultyMirror(serving: manifest, from: repository)
            // Wrong bytes for every chunk, more times than a chunk has attempts.
            for digest in manifest.chunks.map(\.digest) { bad.plan(digest, Array(repeating: .corrupt, count: 10)) }
            try await bad.withRunning { url in
                var policy = ChunkFetcher.Policy()
                policy.initialBackoff = .milliseconds(5)
                policy.parallel = 2
                // Every chunk's rotation meets the bad mirror first or second, whatever its digest.
                for mirrors in [[url, server.baseURL], [server.baseURL, url]] {
                    let fetcher = try siteFetcher(mirrors: mirrors, in: directory.appendingPathComponent(UUID().uuidString), policy: policy)
                    let report = try await fetcher.fetchImage(manifest)
                    #expect(FileManager.default.contents(atPath: fetcher.images.path(for: manifest)) == Data(image))
                    #expect(report.retries <= manifest.chunks.count)
                }
                // At most one wrong answer per chunk and order: the bad mirror was never asked twice for a chunk.
                #expect(bad.requests <= 2 * manifest.chunks.count)
            }
        }
    }

    @Test("assembly while chunks arrive: corrupt chunks are fetched again, repeated chunks written at every offset, a truncated one resumed")
    func fetchImageWithFaults() async throws {
        // Zeros in the middle make the same chunk appear at several offsets.
        let image = try randomImage(120_000) + [UInt8](repeating: 0, count: 200_000) + randomImage(60_000)
        try await withPublishedServer(image: image) { _, repository, manifest, directory in
            #expect(Set(manifest.chunks.map(\.digest)).count < manifest.chunks.count)
            let mirror = try FaultyMirror(serving: manifest, from: repository)
            let digests = manifest.chunks.map(\.digest)
            mirror.plan(digests[0], [.corrupt, .corrupt])
            mirror.plan(digests[1], [.truncate])
            mirror.plan(digests.last!, [.corrupt])
            try await mirror.withRunning { url in
                var policy = ChunkFetcher.Policy()
                policy.initialBackoff = .milliseconds(1)
                policy.parallel = 3
                let fetcher = try siteFetcher(mirrors: [url], in: directory, policy: policy)
                let report = try await fetcher.fetchImage(manifest)
                #expect(FileManager.default.contents(atPath: fetcher.images.path(for: manifest)) == Data(image))
                #expect(report.retries == 4)
                #expect(report.downloadedChunks == Set(digests).count)
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("site/partial").path).isEmpty)

                // Another image of the same chunks comes from this disk alone, repeated chunks included.
                let requests = mirror.requests
                let again = try await fetcher.fetchImage(sameChunks(manifest, version: "2"))
                #expect(again.downloadedBytes == 0 && again.reusedChunks == Set(digests).count && mirror.requests == requests)
                #expect(FileManager.default.contents(atPath: fetcher.images.path(for: sameChunks(manifest, version: "2"))) == Data(image))
            }
        }
    }

    @Test(
        "a chunk that stays corrupt: a clear error, no image; the partial image keeps only verified chunks, and the next fetch resumes from it"
    )
    func exhaustedThenResumed() async throws {
        let image = try randomImage(80_000)
        try await withPublishedServer(image: image) { _, repository, manifest, directory in
            let mirror = try FaultyMirror(serving: manifest, from: repository)
            let badIndex = manifest.chunks.count / 2
            let bad = manifest.chunks[badIndex]
            mirror.plan(bad.digest, [.corrupt, .corrupt, .corrupt])
            try await mirror.withRunning { url in
                var policy = ChunkFetcher.Policy()
                policy.initialBackoff = .milliseconds(1)
                policy.attempts = 3
                policy.parallel = 1
                let fetcher = try siteFetcher(mirrors: [url], in: directory, policy: policy)
                let destination = fetcher.images.path(for: manifest)
                let error = await #expect(throws: SyncAgentError.self) { try await fetcher.fetchImage(manifest) }
                #expect(error?.kind == .exhausted && error?.chunk == bad.digest && error?.mirrors == [url])
                #expect(!FileManager.default.fileExists(atPath: destination))
                // The partial image holds the chunks before the bad one, verified, and nothing of the bad one.
                let partial = try #require(FileManager.default.contents(atPath: destination + ".partial"))
                for chunk in manifest.chunks[..<badIndex] {
                    let range = Int(chunk.offset)..<(Int(chunk.offset) + chunk.length)
                    #expect(SHA256.hash(data: partial[range]).hexString == chunk.digest)
                }
                if partial.count > Int(bad.offset) {
                    #expect(partial[Int(bad.offset)..<min(partial.count, Int(bad.offset) + bad.length)].allSatisfy { $0 == 0 })
                }

                // The mirror serves it right now: only the chunks not in the partial image come over the network.
                let requests = mirror.requests
                let report = try await fetcher.fetchImage(manifest)
                #expect(report.reusedChunks >= badIndex && report.downloadedChunks == Set(manifest.chunks.map(\.digest)).count - report.reusedChunks)
                #expect(mirror.requests - requests == report.downloadedChunks)
                #expect(FileManager.default.contents(atPath: destination) == Data(image))
                #expect(!FileManager.default.fileExists(atPath: destination + ".partial"))
            }
        }
    }

    @Test("a partial image with foreign bytes (longer, wrong chunks) keeps only what verifies and is cut to the image's size")
    func foreignPartial() async throws {
        let image = try randomImage(100_000)
        try await withPublishedServer(image: image) { server, _, manifest, directory in
            let fetcher = try siteFetcher(mirrors: [server.baseURL], in: directory)
            let destination = fetcher.images.path(for: manifest)
            // The first chunk right, the rest garbage, and 50 KB too many.
            var leftover = try randomImage(150_000)
            let first = manifest.chunks[0]
            leftover.replaceSubrange(0..<first.length, with: image[0..<first.length])
            try Data(leftover).write(to: URL(fileURLWithPath: destination + ".partial"))
            let report = try await fetcher.fetchImage(manifest)
            #expect(report.reusedChunks == 1 && report.downloadedBytes == Int64(image.count - first.length))
            #expect(FileManager.default.contents(atPath: destination) == Data(image))
        }
    }

    @Test("a chunk of another image that no longer verifies (damaged or trimmed) is fetched instead of reused")
    func damagedReuse() async throws {
        let image = try randomImage(150_000)
        try await withPublishedServer(image: image) { server, _, manifest, directory in
            let fetcher = try siteFetcher(mirrors: [server.baseURL], in: directory)
            try await fetcher.fetchImage(manifest)
            // Damage one byte of v1's third chunk.
            let handle = try #require(FileHandle(forUpdatingAtPath: fetcher.images.path(for: manifest)))
            try handle.seek(toOffset: UInt64(manifest.chunks[2].offset + 10))
            try handle.write(contentsOf: Data([0xAB ^ image[Int(manifest.chunks[2].offset) + 10]]))
            try handle.close()
            let v2 = sameChunks(manifest, version: "2")
            let report = try await fetcher.fetchImage(v2)
            #expect(report.downloadedChunks == 1 && report.downloadedBytes == Int64(manifest.chunks[2].length))
            #expect(report.reusedChunks == Set(manifest.chunks.map(\.digest)).count - 1)
            #expect(FileManager.default.contents(atPath: fetcher.images.path(for: v2)) == Data(image))
        }
    }

    @Test("after a trim, the chunks a trimmed image still holds are reused and the trimmed ones fetched")
    func reuseAfterTrim() async throws {
        let image = try randomImage(300_000)
        try await withPublishedServer(image: image) { server, _, manifest, directory in
            let fetcher = try siteFetcher(mirrors: [server.baseURL], in: directory)
            try await fetcher.fetchImage(manifest)
            let images = fetcher.images
            let trimmed = images.trim(budget: images.images()[0].allocated / 2, keeping: [])
            #expect(trimmed.chunks > 0 && trimmed.images == 0)
            #expect(FileManager.default.fileExists(atPath: images.path(for: manifest) + ".trimmed"))
            let v2 = sameChunks(manifest, version: "2")
            let report = try await fetcher.fetchImage(v2)
            #expect(report.downloadedChunks > 0 && report.reusedChunks > 0)
            #expect(report.downloadedChunks + report.reusedChunks == Set(manifest.chunks.map(\.digest)).count)
            #expect(FileManager.default.contents(atPath: images.path(for: v2)) == Data(image))
        }
    }

    @Test("an image another process is assembling is refused with a clear error")
    func busy() async throws {
        let image = try randomImage(20_000)
        try await withPublishedServer(image: image) { server, _, manifest, directory in
            let fetcher = try siteFetcher(mirrors: [server.baseURL], in: directory)
            let partial = fetcher.images.path(for: manifest) + ".partial"
            _ = FileManager.default.createFile(atPath: partial, contents: nil)
            let other = open(partial, O_RDWR)
            #expect(flock(other, LOCK_EX) == 0)
            defer { close(other) }
            let error = await #expect(throws: SyncAgentError.self) { try await fetcher.fetchImage(manifest) }
            #expect(error?.kind == .storage && "\(error!)".contains("another agent process"))
        }
    }

    @Test("a transfer that stops sending is aborted by the stall watchdog and resumed with Range from the bytes that arrived")
    func stallWatchdog() async throws {
        let image = try randomImage(150_000)
        try await withPublishedServer(image: image) { _, repository, manifest, directory in
            let mirror = try FaultyMirror(serving: manifest, from: repository)
            mirror.plan(manifest.chunks[0].digest, [.stall])
            try await mirror.withRunning { url in
                var policy = ChunkFetcher.Policy()
                policy.initialBackoff = .milliseconds(1)
                policy.stallTimeout = .seconds(1)
                let fetcher = try siteFetcher(mirrors: [url], in: directory, policy: policy)
                let report = try await fetcher.fetchImage(manifest)
                #expect(report.retries == 1)
                #expect(mirror.rangeRequests == 1)
                // The resumed chunk's first half came over the network once only.
                #expect(report.downloadedBytes == Int64(image.count))
                #expect(FileManager.default.contents(atPath: fetcher.images.path(for: manifest)) == Data(image))
            }
        }
    }

    @Test(
        "a mirror that accepts connections and never answers costs one stall timeout, then the good mirror serves every chunk",
        .timeLimit(.minutes(3)))
    func silentMirror() async throws {
        let image = try randomImage(150_000)
        try await withPublishedServer(image: image) { server, repository, manifest, directory in
            let silent = try FaultyMirror(serving: manifest, from: repository)
            for digest in manifest.chunks.map(\.digest) { silent.plan(digest, Array(repeating: .noHead, count: 10)) }
            try await silent.withRunning { url in
                defer { silent.release() }
                var policy = ChunkFetcher.Policy()
                policy.initialBackoff = .milliseconds(1)
                // Long enough that the good mirror's head always comes in time on a loaded CI machine (at 1 s it
                // once did not, and every attempt counted as a stall).
                policy.stallTimeout = .seconds(3)
                // Without the watchdog on the head, each attempt would wait this long.
                policy.chunkTimeout = .seconds(600)
                for mirrors in [[url, server.baseURL], [server.baseURL, url]] {
                    let fetcher = try siteFetcher(mirrors: mirrors, in: directory.appendingPathComponent(UUID().uuidString), policy: policy)
                    try await fetcher.fetchImage(manifest)
                    #expect(FileManager.default.contents(atPath: fetcher.images.path(for: manifest)) == Data(image))
                }
            }
        }
    }

    @Test("the bandwidth limit holds the average rate of all parallel downloads together")
    func bandwidthLimit() async throws {
        let image = try randomImage(400_000)
        try await withPublishedServer(image: image) { server, _, manifest, directory in
            var policy = ChunkFetcher.Policy()
            policy.bandwidthLimit = 1_000_000
            let fetcher = try siteFetcher(mirrors: [server.baseURL], in: directory, policy: policy)
            let started = ContinuousClock.now
            let report = try await fetcher.fetchImage(manifest)
            let elapsed = ContinuousClock.now - started
            #expect(report.downloadedBytes == Int64(image.count))
            // A lower bound only (a slow machine takes longer, never shorter): 400 KB at 1 MB/s after a
            // 128 KiB burst cannot finish in under 0.25 s.
            #expect(elapsed >= .milliseconds(250))
        }
    }

    @Test("an image whose chunks do not make the signed digest is not installed, and nothing of it is kept")
    func imageMismatch() async throws {
        let image = try randomImage(60_000)
        try await withPublishedServer(image: image) { server, _, manifest, directory in
            var altered = manifest
            altered.sha256 = String(repeating: "0", count: 64)
            let fetcher = try siteFetcher(mirrors: [server.baseURL], in: directory)
            let error = await #expect(throws: SyncAgentError.self) { try await fetcher.fetchImage(altered) }
            #expect(error?.kind == .imageMismatch)
            #expect(try FileManager.default.contentsOfDirectory(atPath: fetcher.images.directory.path).isEmpty)
        }
    }

    @Test("the token bucket lets a burst through, then makes takers wait their share in turn")
    func tokenBucket() {
        var bucket = TokenBucket(rate: 1000, burst: 500, now: 0)
        #expect(bucket.take(500, now: 0) == 0)
        #expect(bucket.take(500, now: 0) == 0.5)
        #expect(bucket.take(100, now: 0.5) == 0.1)
        #expect(abs(bucket.take(100, now: 0.6) - 0.1) < 1e-9)
        // A long idle spell refills no more than the burst.
        #expect(bucket.take(500, now: 100) == 0)
        #expect(bucket.take(1, now: 100) == 0.001)
    }

    @Test("the reader refuses an untrusted catalog, and a catalog older than one it has seen (state kept on disk)")
    func catalogTrust() async throws {
        try await withPublishedServer(image: try randomImage(20_000)) { server, repository, _, directory in
            let state = directory.appendingPathComponent("state.json").path
            let client = RepositoryClient(baseURL: server.baseURL)
            let stranger = CatalogReader(client: client, trusted: [PublisherKey().publicKey], stateFile: state)
            await #expect(throws: TemplateRepositoryError.self) { try await stranger.catalog() }

            let reader = CatalogReader(client: client, trusted: [repository.key.publicKey], stateFile: state)
            let seen = try await reader.catalog().serial
            try Data("{\"lastSerial\":\(seen + 5)}".utf8).write(to: URL(fileURLWithPath: state))
            let replay = await #expect(throws: TemplateRepositoryError.self) { try await reader.catalog() }
            #expect("\(replay!)".contains("replayed"))
        }
    }
}

@Suite("Repository client: answers it refuses")
struct RepositoryClientAnswerTests {
    @Test("a catalog over the answer limit is refused as too large, never reported as an unreachable server")
    func oversizedCatalog() async throws {
        let router = Router()
        router.get("/api/v1/catalog") { _, _ in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: [UInt8](repeating: 0x20, count: 3 << 20))))
        }
        try await withLoopbackApp(router) { url in
            var client = RepositoryClient(baseURL: url)
            client.answerLimit = 1 << 20
            let error = await #expect(throws: RepositoryClientError.self) { try await client.signedCatalog() }
            #expect(error?.tooLarge == true && error?.status == 200)
            let dead = await #expect(throws: RepositoryClientError.self) { try await RepositoryClient(baseURL: "http://127.0.0.1:9").signedCatalog() }
            #expect(dead?.tooLarge == false && dead?.status == nil)
        }
    }
}
