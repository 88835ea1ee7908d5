import Core
import Crypto
import Foundation
import Logging
import Prometheus
import Server
import TemplateRepository
import TestSupport
import Testing

/// A flipped bit in a chunk file of the central store: found, repaired, never signed into a version.
@Suite("Central store: damaged chunks")
struct DamagedStoreTests {
    /// Flips one bit of the stored chunk `digest`.
    func damage(_ digest: String, in repository: Repository) throws {
        let path = repository.chunks.path(for: digest)
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[bytes.count / 2] ^= 0x04
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    @Test("PUT of the right bytes replaces a damaged stored chunk; a local publish that reuses it repairs it instead of signing on it")
    func putAndPublishRepair() async throws {
        try await withServer { server, repository, directory in
            let image = bytes(200_000, seed: 41)
            let path = try writeFile(image, in: directory)
            let first = try await repository.publish(imageAt: path, metadata: sampleMetadata())
            let manifest = try await repository.manifest(name: "ubuntu-22.04", version: "1.0")
            let victim = manifest.chunks[2]
            let good = try repository.chunks.get(victim.digest)
            try damage(victim.digest, in: repository)
            #expect(try repository.chunks.verify(victim.digest) == false)

            let client = RepositoryClient(baseURL: server.baseURL, token: "admin-token")
            #expect(try await client.upload(victim.digest, bytes: good))
            #expect(try repository.chunks.verify(victim.digest) == true)

            // A second version of the same image reuses every chunk: the damaged one is written again, not trusted.
            try damage(victim.digest, in: repository)
            let second = try await repository.publish(imageAt: path, metadata: sampleMetadata("ubuntu-22.04", "1.1"))
            #expect(second.newChunks == 1 && first.newChunks == manifest.chunks.count)
            #expect(try repository.chunks.verify(victim.digest) == true)
        }
    }

    @Test("a remote publish that reuses a damaged stored chunk uploads it again by itself and succeeds; the store is whole after")
    func remotePublishReuploads() async throws {
        try await withServer { server, repository, directory in
            let image = bytes(200_000, seed: 42)
            let path = try writeFile(image, in: directory)
            let publisher = RemotePublisher(client: RepositoryClient(baseURL: server.baseURL, token: "admin-token"))
            _ = try await publisher.publish(imageAt: path, metadata: sampleMetadata())
            let manifest = try await repository.manifest(name: "ubuntu-22.04", version: "1.0")
            try damage(manifest.chunks[1].digest, in: repository)

            let report = try await publisher.publish(imageAt: path, metadata: sampleMetadata("ubuntu-22.04", "1.1"))
            #expect(report.newChunks == 1)
            #expect(try repository.chunks.verify(manifest.chunks[1].digest) == true)
            // Straight at the store: the commit names the damaged chunk and removes it.
            try damage(manifest.chunks[3].digest, in: repository)
            let chunked = ChunkedImage(digest: manifest.sha256, size: manifest.size, chunks: manifest.chunks)
            let error = await #expect(throws: TemplateRepositoryError.self) {
                try await repository.commit(sampleMetadata("ubuntu-22.04", "1.2"), image: chunked)
            }
            #expect(error?.missingChunks == [manifest.chunks[3].digest])
            #expect(try repository.chunks.verify(manifest.chunks[3].digest) == nil)
            #expect(try await repository.templates().first?.versions.map(\.version) == ["1.0", "1.1"])
        }
    }

    @Test("template verify finds a damaged chunk (exit 1), --repair restores it from a mirror; without one it is removed and the version named")
    func verifyCommand() async throws {
        try await withServer { server, repository, directory in
            let path = try writeFile(bytes(150_000, seed: 43), in: directory)
            _ = try await repository.publish(imageAt: path, metadata: sampleMetadata())
            let manifest = try await repository.manifest(name: "ubuntu-22.04", version: "1.0")
            let data = repository.chunks.root.deletingLastPathComponent().path
            let clean = try await runMClouds(["template", "verify", "--data", data])
            #expect(clean.status == 0 && clean.stdout.contains("0 damaged"))

            // A mirror holding a good copy (another repository with the same image).
            try await withServer { mirror, mirrorRepository, mirrorDirectory in
                _ = try await mirrorRepository.publish(imageAt: path, metadata: sampleMetadata())
                try damage(manifest.chunks[0].digest, in: repository)
                let found = try await runMClouds(["template", "verify", "--data", data, "--json"])
                #expect(found.status == 1)
                let report = try JSONDecoder().decode(ScrubReport.self, from: Data(found.stdout.utf8))
                #expect(report.damaged == [manifest.chunks[0].digest] && report.affectedVersions == ["ubuntu-22.04@1.0"])
                let repaired = try await runMClouds(["template", "verify", "--data", data, "--repair", "--mirror", mirror.baseURL])
                #expect(repaired.status == 0 && repaired.stdout.contains("1 restored from a mirror"))
                #expect(try repository.chunks.verify(manifest.chunks[0].digest) == true)
                _ = mirrorDirectory
            }
            try damage(manifest.chunks[1].digest, in: repository)
            let removed = try await runMClouds(["template", "verify", "--data", data, "--repair"])
            #expect(removed.status == 1 && removed.stdout.contains("ubuntu-22.04@1.0"))
            #expect(try repository.chunks.verify(manifest.chunks[1].digest) == nil)
            // The next publish of that image restores it.
            _ = try await repository.publish(imageAt: path, metadata: sampleMetadata())
            #expect(try repository.chunks.verify(manifest.chunks[1].digest) == true)
            _ = server
        }
    }
}

@Suite("Central store: scheduled scrub")
struct StoreScrubberTests {
    @Test("a scrub finds a damaged chunk, names the versions it breaks, and shows the count as a gauge")
    func scrubReports() async throws {
        try await withServer { _, repository, directory in
            let path = try writeFile(bytes(120_000, seed: 44), in: directory)
            _ = try await repository.publish(imageAt: path, metadata: sampleMetadata())
            let manifest = try await repository.manifest(name: "ubuntu-22.04", version: "1.0")
            let registry = PrometheusCollectorRegistry()
            let scrubber = StoreScrubber(
                repository: repository, interval: .seconds(3600), clock: ContinuousClock(), metrics: registry, logger: .init(label: "test"))
            await scrubber.scrubOnce()
            #expect(scrubber.lastScrub?.report.damaged == [])
            #expect(String(decoding: registry.emitToBuffer(), as: UTF8.self).contains("mclouds_store_damaged_chunks 0"))

            try DamagedStoreTests().damage(manifest.chunks[1].digest, in: repository)
            await scrubber.scrubOnce()
            #expect(scrubber.lastScrub?.report.damaged == [manifest.chunks[1].digest])
            #expect(scrubber.lastScrub?.report.affectedVersions == ["ubuntu-22.04@1.0"])
            #expect(String(decoding: registry.emitToBuffer(), as: UTF8.self).contains("mclouds_store_damaged_chunks 1"))
            // A scrub only reports: the chunk is still there for verify --repair to deal with.
            #expect(try repository.chunks.verify(manifest.chunks[1].digest) == false)
        }
    }
}
