import Core
import Crypto
import Foundation
import Server
import SyncAgent
import TemplateRepository
import Testing

@Suite("Site agent: verified chunk fetching and image assembly")
struct FetchTests {
    @Test("a fresh cache fetches every chunk from the central server, assembles the signed image, and a second fetch moves nothing")
    func freshThenIdle() async throws {
        let image = try randomImage(400_000)
        try await withPublishedServer(image: image) { server, repository, _, directory in
            let reader = CatalogReader(
                client: RepositoryClient(baseURL: server.baseURL), trusted: [repository.key.publicKey],
                stateFile: directory.appendingPathComponent("state.json").path)
            let catalog = try await reader.catalog()
            let manifest = try await reader.manifest(for: catalog.entries[0])
            let fetcher = try siteFetcher(mirrors: [server.baseURL], in: directory)
            let first = try await fetcher.fetch(manifest.chunks)
            #expect(first.downloadedBytes == Int64(image.count) && first.reusedChunks == 0 && first.retries == 0)
            let second = try await fetcher.fetch(manifest.chunks)
            #expect(second.downloadedChunks == 0 && second.downloadedBytes == 0 && second.reusedBytes == Int64(image.count))

            let destination = directory.appendingPathComponent("ubuntu-1.qcow2").path
            _ = try await fetcher.fetchImage(manifest, to: destination)
            #expect(FileManager.default.contents(atPath: destination) == Data(image))
            #expect(reader.lastSerial == catalog.serial)
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
                let report = try await fetcher.fetch(manifest.chunks)
                #expect(report.retries >= 4)
                #expect(mirror.rangeRequests >= 1)
                // Every chunk in the cache is verified: the image assembles to the signed digest.
                let destination = directory.appendingPathComponent("image").path
                _ = try await fetcher.fetchImage(manifest, to: destination)
                #expect(FileManager.default.contents(atPath: destination) == Data(image))
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("site/partial").path).isEmpty)
            }
        }
    }

    @Test(
        "fetchImage assembles while chunks arrive: corrupt chunks are fetched again, repeated chunks written at every offset, a truncated one resumed"
    )
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
                let cache = fetcher.cache
                let destination = directory.appendingPathComponent("image").path
                let report = try await fetcher.fetchImage(manifest, to: destination)
                #expect(FileManager.default.contents(atPath: destination) == Data(image))
                #expect(report.retries == 4)
                #expect(report.downloadedChunks == Set(digests).count)
                for digest in Set(digests) { #expect(try cache.get(digest) == mirror.chunks[digest]) }
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("site/partial").path).isEmpty)

                // A second image of the same chunks comes from the cache alone.
                let again = try await fetcher.fetchImage(manifest, to: directory.appendingPathComponent("again").path)
                #expect(again.downloadedBytes == 0 && again.reusedChunks == Set(digests).count)
            }
        }
    }

    @Test("fetchImage gives up on a chunk that stays corrupt: a clear error, no image, no temporary file, nothing bad cached")
    func fetchImageExhausted() async throws {
        let image = try randomImage(80_000)
        try await withPublishedServer(image: image) { _, repository, manifest, directory in
            let mirror = try FaultyMirror(serving: manifest, from: repository)
            let bad = manifest.chunks[manifest.chunks.count / 2].digest
            mirror.plan(bad, [.corrupt, .corrupt, .corrupt])
            try await mirror.withRunning { url in
                var policy = ChunkFetcher.Policy()
                policy.initialBackoff = .milliseconds(1)
                policy.attempts = 3
                let fetcher = try siteFetcher(mirrors: [url], in: directory, policy: policy)
                let cache = fetcher.cache
                let destination = directory.appendingPathComponent("image").path
                let error = await #expect(throws: SyncAgentError.self) { try await fetcher.fetchImage(manifest, to: destination) }
                #expect(error?.kind == .exhausted && "\(error!)".contains("hashes to"))
                #expect(!FileManager.default.fileExists(atPath: destination))
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).allSatisfy { !$0.contains(".partial-") })
                #expect(try !cache.contains(bad))
                // Chunks verified before the failure stay cached for the next attempt.
                #expect(try cache.contains(manifest.chunks[0].digest))
            }
        }
    }

    @Test("a chunk no mirror serves correctly fails with a clear error after the set attempts, and nothing enters the cache")
    func exhausted() async throws {
        let image = try randomImage(50_000)
        try await withPublishedServer(image: image) { _, repository, manifest, directory in
            let mirror = try FaultyMirror(serving: manifest, from: repository)
            mirror.plan(manifest.chunks[0].digest, [.corrupt, .corrupt, .corrupt])
            try await mirror.withRunning { url in
                var policy = ChunkFetcher.Policy()
                policy.initialBackoff = .milliseconds(1)
                policy.attempts = 3
                let fetcher = try siteFetcher(mirrors: [url], in: directory, policy: policy)
                let cache = fetcher.cache
                let error = await #expect(throws: SyncAgentError.self) { try await fetcher.fetch(manifest.chunks) }
                #expect(error?.kind == .exhausted && "\(error!)".contains("hashes to"))
                #expect(try !cache.contains(manifest.chunks[0].digest))
            }
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
                policy.stallTimeout = .milliseconds(300)
                let fetcher = try siteFetcher(mirrors: [url], in: directory, policy: policy)
                let report = try await fetcher.fetch(manifest.chunks)
                #expect(report.retries == 1)
                #expect(mirror.rangeRequests == 1)
                // The resumed chunk's first half came over the network once only.
                #expect(report.downloadedBytes == Int64(image.count))
                let destination = directory.appendingPathComponent("image").path
                _ = try await fetcher.fetchImage(manifest, to: destination)
                #expect(FileManager.default.contents(atPath: destination) == Data(image))
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
            let report = try await fetcher.fetch(manifest.chunks)
            let elapsed = ContinuousClock.now - started
            #expect(report.downloadedBytes == Int64(image.count))
            // A lower bound only (a slow machine takes longer, never shorter): 400 KB at 1 MB/s after a
            // 128 KiB burst cannot finish in under 0.25 s.
            #expect(elapsed >= .milliseconds(250))
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

    @Test("an image whose chunks do not make the signed digest is not installed")
    func imageMismatch() async throws {
        let image = try randomImage(60_000)
        try await withPublishedServer(image: image) { _, repository, manifest, directory in
            var altered = manifest
            altered.sha256 = String(repeating: "0", count: 64)
            let destination = directory.appendingPathComponent("image").path
            // Every chunk is at hand (the repository's store as the cache): the image is assembled, and refused.
            let fetcher = ChunkFetcher(
                mirrors: [], cache: repository.chunks, partialDirectory: directory.appendingPathComponent("partial"), logger: quietLogger)
            let error = await #expect(throws: SyncAgentError.self) { try await fetcher.fetchImage(altered, to: destination) }
            #expect(error?.kind == .imageMismatch)
            #expect(!FileManager.default.fileExists(atPath: destination))
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(names.allSatisfy { !$0.contains(".partial-") })
        }
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
