import Core
import Crypto
import Foundation
import SyncAgent
import TemplateRepository
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Image cache: images as the chunk cache, budget, leftovers")
struct ImageCacheTests {
    static let chunkSize = 65_536

    /// Writes an image made of `fills` (one 64 KiB chunk each, every byte `fill`) with its manifest beside
    /// it, last used `hoursAgo` hours ago.
    func makeImage(_ cache: ImageCache, version: String, fills: [UInt8], hoursAgo: Double) throws -> (String, TemplateManifest) {
        var bytes: [UInt8] = []
        var chunks: [ChunkReference] = []
        for fill in fills {
            let chunk = [UInt8](repeating: fill, count: Self.chunkSize)
            chunks.append(ChunkReference(digest: SHA256.hash(data: chunk).hexString, offset: Int64(bytes.count), length: chunk.count))
            bytes += chunk
        }
        let image = ChunkedImage(digest: SHA256.hash(data: bytes).hexString, size: Int64(bytes.count), chunks: chunks)
        let manifest = TemplateManifest(
            name: "ubuntu", version: version, format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS", displayText: "Ubuntu",
            software: [], image: image, chunking: testParameters, created: "2026-11-26T00:00:00Z", publisherKeyID: "test")
        let path = cache.path(for: manifest)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try Data(JSONEncoder().encode(manifest)).write(to: URL(fileURLWithPath: path + ".manifest"))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-hoursAgo * 3600)], ofItemAtPath: path)
        return (path, manifest)
    }

    func allocated(_ path: String, _ cache: ImageCache) -> Int64 { cache.images().first { $0.path == path }?.allocated ?? -1 }

    @Test(
        "over budget: copies of current chunks go first, then chunk by chunk the least recently used image; current images stay whole"
    )
    func trim() async throws {
        try await withTemporaryDirectory { directory in
            let cache = try ImageCache(directory: directory)
            let (current, _) = try makeImage(cache, version: "3", fills: [1, 2], hoursAgo: 0)
            let (oldest, _) = try makeImage(cache, version: "1", fills: [1, 3], hoursAgo: 2)  // shares chunk 1 with the current one
            let (older, olderManifest) = try makeImage(cache, version: "2", fills: [4, 5], hoursAgo: 1)
            let chunk = Int64(Self.chunkSize)
            #expect(allocated(current, cache) == 2 * chunk)

            // Six chunks on disk, room for three: 1 (a copy of a current chunk), 3 (the oldest image's
            // last chunk: the image goes), then 4.
            let trimmed = cache.trim(budget: 3 * chunk, keeping: [current])
            #expect(trimmed == ImageCache.Trimmed(bytes: 3 * chunk, chunks: 3, images: 1))
            #expect(!FileManager.default.fileExists(atPath: oldest) && !FileManager.default.fileExists(atPath: oldest + ".manifest"))
            // The trimmed image is no longer whole, so no longer served under its name: it is renamed, with its manifest.
            let trimmedPath = older + ".trimmed"
            #expect(!FileManager.default.fileExists(atPath: older) && FileManager.default.fileExists(atPath: trimmedPath + ".manifest"))
            #expect(allocated(current, cache) == 2 * chunk && allocated(trimmedPath, cache) == chunk)
            // It keeps its size; its first chunk reads as zeros, its second is intact.
            let remaining = try Data(contentsOf: URL(fileURLWithPath: trimmedPath))
            #expect(remaining.count == 2 * Self.chunkSize)
            #expect(remaining.prefix(Self.chunkSize).allSatisfy { $0 == 0 })
            #expect(SHA256.hash(data: remaining.suffix(Self.chunkSize)).hexString == olderManifest.chunks[1].digest)
            // Within budget: nothing more goes.
            #expect(cache.trim(budget: 3 * chunk, keeping: [current]) == ImageCache.Trimmed())
            // Current images stay even when they alone exceed the budget.
            #expect(cache.trim(budget: 0, keeping: [current]).images == 1)
            #expect(allocated(current, cache) == 2 * chunk)
            #expect(cache.images().map(\.path) == [current])
        }
    }

    @Test(
        "leftovers: a partial image of an unwanted version goes, a wanted one stays for resuming, so does one in use; orphan manifests and dead processes' temporaries go"
    )
    func leftovers() async throws {
        try await withTemporaryDirectory { directory in
            let cache = try ImageCache(directory: directory)
            let (image, _) = try makeImage(cache, version: "1", fills: [1], hoursAgo: 0)
            // A manifest being written by a process that has ended, one by this process, an earlier release's partial image.
            let temporaries = [
                ".ubuntu-6.qcow2.manifest-2147483646-1", TemporaryNames.unique(".ubuntu-7.qcow2.manifest"), "ubuntu-8.qcow2.partial-2147483646",
            ]
            let files = [
                "ubuntu-2.qcow2.partial", "ubuntu-2.qcow2.manifest", "ubuntu-3.qcow2.partial", "ubuntu-4.qcow2.partial", "ubuntu-5.qcow2.manifest",
            ]
            for name in files + temporaries {
                try Data([1]).write(to: directory.appendingPathComponent(name))
            }
            // Another process is assembling ubuntu-4.
            let busy = open(directory.appendingPathComponent("ubuntu-4.qcow2.partial").path, O_RDONLY)
            #expect(flock(busy, LOCK_EX) == 0)
            defer { close(busy) }
            cache.removeLeftovers(wanted: ["ubuntu-1.qcow2", "ubuntu-3.qcow2"])
            let names = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
            #expect(names == ["ubuntu-1.qcow2", "ubuntu-1.qcow2.manifest", "ubuntu-3.qcow2.partial", "ubuntu-4.qcow2.partial", temporaries[1]])
            #expect(cache.images().map(\.path) == [image])
        }
    }
}
