import Core
import Crypto
import Foundation
import TestSupport
import Testing

@testable import TemplateRepository

func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

let small = try! ChunkingParameters(minimum: 2048, average: 8192, maximum: 32768)

@Suite("Content-defined chunking")
struct ChunkingTests {
    @Test("chunks tile the input, respect min and max, and the image digest is the SHA-256 of the whole")
    func tiling() throws {
        let bytes = randomBytes(1_000_000, seed: 1)
        let image = try ImageChunker(parameters: small, readSize: 10_000).chunk(bytes: bytes)
        #expect(image.size == 1_000_000)
        #expect(image.digest == SHA256.hash(data: bytes).hexString)
        var offset: Int64 = 0
        for (i, c) in image.chunks.enumerated() {
            #expect(c.offset == offset)
            #expect(c.length <= small.maximum)
            if i < image.chunks.count - 1 { #expect(c.length >= small.minimum) }
            let slice = bytes[Int(c.offset)..<Int(c.offset) + c.length]
            #expect(SHA256.hash(data: Array(slice)).hexString == c.digest)
            offset += Int64(c.length)
        }
        #expect(offset == 1_000_000)
        let mean = 1_000_000 / image.chunks.count
        #expect(mean > small.minimum && mean < small.maximum)
    }

    @Test("the same bytes give the same chunks whatever the read size")
    func readSizeIndependent() throws {
        let bytes = randomBytes(300_000, seed: 2)
        let a = try ImageChunker(parameters: small, readSize: 1_000).chunk(bytes: bytes)
        let b = try ImageChunker(parameters: small, readSize: 1 << 20).chunk(bytes: bytes)
        #expect(a == b)
        #expect(a.chunks.map(\.length) == GearChunker(parameters: small).chunkLengths(of: bytes))
    }

    @Test("cuts are those of the byte-at-a-time FastCDC definition (the unrolled scan in C changes nothing)")
    func matchesReferenceDefinition() {
        for (seed, count) in [(11, 400_000), (12, 65_537), (13, 2_049), (14, 100_001)] {
            let bytes = randomBytes(count, seed: UInt64(seed))
            #expect(GearChunker(parameters: small).chunkLengths(of: bytes) == referenceLengths(bytes, small))
        }
        // Low-entropy input cuts only at the maximum; a run that makes the hash zero cuts at the minimum.
        let zeros = [UInt8](repeating: 0, count: 100_000)
        #expect(GearChunker(parameters: small).chunkLengths(of: zeros) == referenceLengths(zeros, small))
    }

    /// FastCDC as written in the paper: one byte per step, strict mask until the average, loose mask after.
    func referenceLengths(_ bytes: [UInt8], _ p: ChunkingParameters) -> [Int] {
        let bits = p.average.trailingZeroBitCount
        let strict = GearChunker.upperMask(bits: bits + 2)
        let loose = GearChunker.upperMask(bits: max(1, bits - 2))
        var lengths: [Int] = []
        var start = 0
        while start < bytes.count {
            let count = bytes.count - start
            var length = min(count, p.maximum)
            if count > p.minimum {
                var hash: UInt64 = 0
                var i = p.minimum
                while i < min(count, p.maximum) {
                    hash = (hash << 1) &+ GearChunker.gear[Int(bytes[start + i])]
                    if hash & (i < p.average ? strict : loose) == 0 {
                        length = i + 1
                        break
                    }
                    i += 1
                }
            }
            lengths.append(length)
            start += length
        }
        return lengths
    }

    @Test("the SHA-extension SHA-256, one stream or two interleaved, equals swift-crypto's for every length and split")
    func hardwareSHA256() throws {
        guard HardwareSHA256.isAvailable else { return }  // the software path is what runs there, and is tested below
        let bytes = randomBytes(70_000, seed: 16)
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096, 65_537, 70_000] {
            let data = Array(bytes.prefix(length))
            var one = HardwareSHA256()
            data.withUnsafeBytes { one.update($0) }
            #expect(one.finalizeHex() == SHA256.hash(data: data).hexString, "length \(length)")
        }
        // Two streams at different alignments, fed piece by piece as the chunker does (chunk and whole image).
        var whole = HardwareSHA256()
        var offset = 0
        for piece in [1, 63, 64, 65, 1000, 7, 20_000, 130, 48_670] {
            let slice = Array(bytes[offset..<(offset + piece)])
            var chunk = HardwareSHA256()
            slice.withUnsafeBytes { HardwareSHA256.update(&chunk, &whole, with: $0) }
            #expect(chunk.finalizeHex() == SHA256.hash(data: slice).hexString, "piece \(piece)")
            offset += piece
        }
        #expect(offset == bytes.count)
        #expect(whole.finalizeHex() == SHA256.hash(data: bytes).hexString)
    }

    @Test("hardware and software hashing give the same chunks and image digest")
    func hashingPathsAgree() throws {
        let bytes = randomBytes(1_500_000, seed: 17)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("paths-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let software = try ImageChunker(parameters: small, readSize: 100_000, hashing: .software).chunk(path: url.path) { _, _ in }
        let automatic = try ImageChunker(parameters: small, readSize: 100_000, hashing: .automatic).chunk(path: url.path) { _, _ in }
        #expect(software == automatic)
        #expect(software.digest == SHA256.hash(data: bytes).hexString)
    }

    @Test("inserting bytes near the start moves few boundaries: most chunks are shared")
    func shiftResistance() throws {
        let v1 = randomBytes(2_000_000, seed: 3)
        var v2 = v1
        v2.insert(contentsOf: randomBytes(777, seed: 4), at: 100_000)
        let chunker = ImageChunker(parameters: small)
        let a = Set(try chunker.chunk(bytes: v1).chunks.map(\.digest))
        let b = try chunker.chunk(bytes: v2).chunks
        let shared = b.filter { a.contains($0.digest) }.reduce(0) { $0 + $1.length }
        #expect(Double(shared) / Double(v2.count) > 0.95)
    }

    @Test("empty and tiny inputs give zero or one chunk")
    func edges() throws {
        #expect(try ImageChunker(parameters: small).chunk(bytes: []).chunks.isEmpty)
        let one = try ImageChunker(parameters: small).chunk(bytes: [1, 2, 3])
        #expect(one.chunks.count == 1 && one.chunks[0].length == 3)
    }

    @Test("invalid parameters are refused")
    func invalidParameters() {
        #expect(throws: TemplateRepositoryError.self) { try ChunkingParameters(minimum: 10, average: 1000, maximum: 4000) }
        #expect(throws: TemplateRepositoryError.self) { try ChunkingParameters(minimum: 4096, average: 1024, maximum: 8192) }
    }

    @Test("a file is chunked from disk the same as in memory")
    func file() throws {
        let bytes = randomBytes(500_000, seed: 5)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("chunk-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let chunker = ImageChunker(parameters: small, readSize: 65_536)
        #expect(try chunker.chunk(path: url.path) { _, _ in } == chunker.chunk(bytes: bytes))
        #expect(throws: TemplateRepositoryError.self) { try chunker.chunk(path: "/nonexistent/image") { _, _ in } }
        #expect(throws: TemplateRepositoryError.self) { try chunker.chunk(path: FileManager.default.temporaryDirectory.path) { _, _ in } }
    }

    @Test("an error from the chunk consumer stops the pass at once and is thrown (no thread is left waiting)")
    func consumerError() throws {
        struct Stop: Error {}
        let bytes = randomBytes(3_000_000, seed: 15)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("stop-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        for stopAt in [0, 5, 150] {
            var seen = 0
            #expect(throws: Stop.self) {
                try ImageChunker(parameters: small, readSize: 65_536).chunk(path: url.path) { _, _ in
                    if seen == stopAt { throw Stop() }
                    seen += 1
                }
            }
            #expect(seen == stopAt)
        }
    }
}

/// A store whose writes are slow and which checks every chunk's bytes against its digest, so a writer
/// reading memory it no longer may would show (as a mismatch or a crash).
struct SlowCheckingStore: ChunkStore {
    let inner: FileChunkStore

    func contains(_ digest: String) throws -> Bool { try inner.contains(digest) }
    func put(_ digest: String, _ bytes: UnsafeRawBufferPointer) throws -> Bool { try putHashed(digest, bytes) }
    func putHashed(_ digest: String, _ bytes: UnsafeRawBufferPointer) throws -> Bool {
        usleep(300)
        return try inner.put(digest, bytes)
    }
    func get(_ digest: String) throws -> [UInt8] { try inner.get(digest) }
    func verify(_ digest: String) throws -> Bool? { try inner.verify(digest) }
    func remove(_ digest: String) throws { try inner.remove(digest) }
    func allDigests() throws -> [String] { try inner.allDigests() }
}

@Suite("Parallel chunk writer")
struct ParallelChunkWriterTests {
    @Test("borrowed bytes: every chunk stored intact once, duplicates skipped, and the whole range released in order")
    func borrowed() async throws {
        try await withTemporaryDirectory { dir in
            let store = SlowCheckingStore(inner: try FileChunkStore(dataDirectory: dir))
            let pieces = (0..<12).map { randomBytes(5_000 + ($0 % 8) * 100, seed: 60 + UInt64($0 % 8)) }  // 4 repeated
            let image = pieces.flatMap { $0 }
            let writer = ParallelChunkWriter(store: store, threads: 3, capacity: 2)
            var released: [Int64] = []
            try image.withUnsafeBytes { raw in
                var offset = 0
                for piece in pieces {
                    let bytes = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + piece.count)])
                    offset += piece.count
                    try writer.submit(digest: SHA256.hash(data: piece).hexString, borrowed: bytes, end: Int64(offset))
                    released.append(writer.releasedOffset)
                }
                writer.returnBorrowed()
                #expect(writer.releasedOffset == Int64(image.count))
            }
            let (chunks, bytes) = try writer.finish()
            let unique = Dictionary(pieces.map { (SHA256.hash(data: $0).hexString, $0) }, uniquingKeysWith: { a, _ in a })
            #expect(chunks == unique.count && chunks == 8)
            #expect(bytes == Int64(unique.values.map(\.count).reduce(0, +)))
            #expect(released == released.sorted())
            for (digest, piece) in unique { #expect(try store.get(digest) == piece) }
        }
    }

    @Test("a file chunked into slow writers that write straight from its mapping: every chunk stored intact")
    func chunkerLendsItsMapping() async throws {
        try await withTemporaryDirectory { dir in
            let bytes = randomBytes(3_000_000, seed: 70)
            let url = dir.appendingPathComponent("image")
            try Data(bytes).write(to: url)
            let store = SlowCheckingStore(inner: try FileChunkStore(dataDirectory: dir))
            let writer = ParallelChunkWriter(store: store, capacity: 8)
            let image = try ImageChunker(parameters: small, readSize: 65_536).chunk(path: url.path, borrower: writer) { reference, chunk in
                try writer.submit(digest: reference.digest, borrowed: chunk, end: reference.offset + Int64(reference.length))
            }
            let (stored, _) = try writer.finish()
            #expect(stored == Set(image.chunks.map(\.digest)).count)
            for chunk in image.chunks {
                #expect(try store.get(chunk.digest) == Array(bytes[Int(chunk.offset)..<(Int(chunk.offset) + chunk.length)]))
            }
        }
    }
}

@Suite("File chunk store")
struct FileChunkStoreTests {
    func tempStore() throws -> (FileChunkStore, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)")
        return (try FileChunkStore(dataDirectory: dir), dir)
    }

    @Test("stores under chunks/ab/cdef…, deduplicates, and reads back")
    func roundTrip() throws {
        let (store, dir) = try tempStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bytes = randomBytes(10_000, seed: 6)
        let digest = SHA256.hash(data: bytes).hexString
        #expect(try store.put(digest, bytes: bytes) == true)
        #expect(try store.put(digest, bytes: bytes) == false)
        #expect(try store.contains(digest))
        #expect(try store.get(digest) == bytes)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("chunks/\(digest.prefix(2))/\(digest.dropFirst(2))").path))
        #expect(try store.allDigests() == [digest])
        try store.remove(digest)
        #expect(try !store.contains(digest))
        #expect(throws: TemplateRepositoryError.self) { try store.get(digest) }
    }

    @Test("bytes that do not match their digest, and digests that are not hex, are refused and nothing is written")
    func refusesBadInput() throws {
        let (store, dir) = try tempStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bytes = randomBytes(100, seed: 7)
        let wrong = String(repeating: "a", count: 64)
        #expect(throws: TemplateRepositoryError.self) { try store.put(wrong, bytes: bytes) }
        #expect(throws: TemplateRepositoryError.self) { try store.put("../../etc/passwd", bytes: bytes) }
        #expect(throws: TemplateRepositoryError.self) { try store.contains("ABC") }
        #expect(try store.allDigests().isEmpty)
    }
}

@Suite("Temporary files")
struct TemporaryFileTests {
    @Test("temporaries of ended processes are recognised; this process's and running ones are not")
    func writerIsGone() {
        #expect(TemporaryNames.writerIsGone(".tmp-0123456789abcdef-2147483646-5"))
        #expect(TemporaryNames.writerIsGone("ubuntu-1.qcow2.partial-2147483646"))
        #expect(!TemporaryNames.writerIsGone(".tmp-0123456789abcdef-\(getpid())-5"))
        #expect(!TemporaryNames.writerIsGone("ubuntu-1.qcow2.partial-1"))  // pid 1 runs
        #expect(!TemporaryNames.writerIsGone("ubuntu-1.qcow2"))
    }
}
