import ArgumentParser
import Core
import Crypto
import Foundation
import TemplateRepository

/// `mclouds bench chunking`: chunk-size choice by measurement, chunk+hash throughput vs sha256sum and openssl.
struct ChunkingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chunking",
        abstract: "Delta efficiency of content-defined chunking vs fixed 500 MB pieces, and chunk+hash throughput vs sha256sum/openssl."
    )

    @Option(name: .customLong("delta-mib"), help: "Synthetic image size in MiB for the delta test.")
    var deltaMiB: Int = 1024

    @Option(name: .customLong("throughput-mib"), help: "Synthetic image size in MiB for the throughput test.")
    var throughputMiB: Int = 2048

    @Option(help: "Read size of the chunker in KiB (segment size).")
    var readSizeKib: Int = 8192

    @Option(help: "Scratch directory (tmpfs or disk).")
    var scratch: String = FileManager.default.temporaryDirectory.path

    func run() async throws {
        let dir = URL(fileURLWithPath: scratch).appendingPathComponent("mclouds-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        Console.line("== delta: v2 = v1 with p% of bytes changed in ~100 scattered regions plus 10 shifting insertions (\(deltaMiB) MiB)")
        let v1 = Synthetic.image(bytes: deltaMiB << 20, seed: 1)
        let candidates: [(Int, Int, Int)] = [
            (16 << 10, 64 << 10, 256 << 10), (16 << 10, 128 << 10, 512 << 10), (32 << 10, 128 << 10, 512 << 10), (64 << 10, 256 << 10, 1 << 20),
            (256 << 10, 1 << 20, 4 << 20),
        ]
        Console.line("chunking (min/avg/max)        change  chunks(v2)  new bytes for v2")
        for percent in [1, 5, 20] {
            let v2 = Synthetic.edit(v1, changedPercent: percent, regions: 100, insertions: 10, seed: UInt64(percent))
            for (minimum, average, maximum) in candidates {
                let p = try ChunkingParameters(minimum: minimum, average: average, maximum: maximum)
                let chunker = ImageChunker(parameters: p)
                let old = Set(try chunker.chunk(bytes: v1).chunks.map(\.digest))
                let new = try chunker.chunk(bytes: v2).chunks
                var seen = old
                var added = 0
                for c in new where !seen.contains(c.digest) {
                    seen.insert(c.digest)
                    added += c.length
                }
                Console.line(
                    String(
                        format: "%-29@ %5d%%  %10d  %6.2f %%", "\(minimum >> 10)K/\(average >> 10)K/\(maximum >> 10)K" as NSString, percent,
                        new.count,
                        Double(added) / Double(v2.count) * 100))
            }
            let fixed = Synthetic.fixedPieceDelta(v1, v2, piece: 500_000_000)
            Console.line(String(format: "%-29@ %5d%%  %10d  %6.2f %%", "fixed 500 MB pieces" as NSString, percent, fixed.pieces, fixed.share * 100))
        }

        Console.line("\n== throughput: chunk + SHA-256 per chunk + SHA-256 of the image, one pass (\(throughputMiB) MiB file)")
        let file = dir.appendingPathComponent("image.raw")
        try Synthetic.writeFile(file, bytes: throughputMiB << 20, seed: 3)
        let chunker = ImageChunker(readSize: readSizeKib << 10)
        _ = try Tools.time { _ = try chunker.chunk(path: file.path) { _, _ in } }  // warm the page cache
        let ours = try Tools.time { _ = try chunker.chunk(path: file.path) { _, _ in } }
        let parameters = ImageChunker().parameters
        let gib = Double(throughputMiB) / 1024
        Console.line(
            String(format: "mclouds chunker (%@ avg):   %.2f s  %.2f GiB/s", "\(parameters.average >> 10)K" as NSString, ours, gib / ours))
        for (name, path, args) in [
            ("sha256sum", "/usr/bin/sha256sum", [file.path]), ("openssl dgst -sha256", "/usr/bin/openssl", ["dgst", "-sha256", file.path]),
        ] {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                Console.line("\(name): not installed")
                continue
            }
            let t = try Tools.time { try Tools.run(path, args) }
            Console.line(
                String(format: "%-29@ %.2f s  %.2f GiB/s   ratio mclouds/%@ = %.2f", "\(name):" as NSString, t, gib / t, name as NSString, t / ours))
        }
        Console.line("peak RSS: \(Tools.peakRSSMiB()) MiB (includes the \(deltaMiB) MiB delta images held in memory)")
    }
}

/// Synthetic images and edits for the benchmarks.
enum Synthetic {
    static func image(bytes: Int, seed: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: bytes)
        var state = seed &* 0x9E37_79B9_7F4A_7C15
        out.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in 0..<words.count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                words[i] = state
            }
        }
        return out
    }

    /// Changes `changedPercent` % of the bytes in `regions` scattered regions, then inserts `insertions` runs of 4 KiB.
    static func edit(_ v1: [UInt8], changedPercent: Int, regions: Int, insertions: Int, seed: UInt64) -> [UInt8] {
        var v2 = v1
        var rng = SplitMix64(seed: seed)
        let regionLength = max(1, v1.count * changedPercent / 100 / regions)
        for _ in 0..<regions {
            let start = Int(rng.next() % UInt64(max(1, v2.count - regionLength)))
            for i in start..<(start + regionLength) { v2[i] = UInt8(truncatingIfNeeded: rng.next()) }
        }
        for _ in 0..<insertions {
            let at = Int(rng.next() % UInt64(v2.count))
            v2.insert(contentsOf: image(bytes: 4096, seed: rng.next()), at: at)
        }
        return v2
    }

    /// Share of v2 that fixed-size pieces would ship again (pieces whose content differs from v1's piece at the same index).
    static func fixedPieceDelta(_ v1: [UInt8], _ v2: [UInt8], piece: Int) -> (pieces: Int, share: Double) {
        var changed = 0
        var pieces = 0
        var offset = 0
        while offset < v2.count {
            let end = min(v2.count, offset + piece)
            pieces += 1
            let old = offset < v1.count ? SHA256.hash(data: v1[offset..<min(v1.count, end)]) : nil
            if old != SHA256.hash(data: v2[offset..<end]) { changed += end - offset }
            offset = end
        }
        return (pieces, Double(changed) / Double(v2.count))
    }

    static func writeFile(_ url: URL, bytes: Int, seed: UInt64) throws {
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var remaining = bytes
        var s = seed
        while remaining > 0 {
            let n = min(remaining, 64 << 20)
            try handle.write(contentsOf: Data(image(bytes: n, seed: s)))
            s &+= 1
            remaining -= n
        }
    }
}

/// Timing and process helpers for benchmarks.
enum Tools {
    /// The value below which a fraction `p` of `values` lies (nearest rank).
    static func percentile(_ values: [Duration], _ p: Double) -> Duration {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    /// "0.35 ms" under a second, "1.30 s" from there.
    static func format(_ d: Duration) -> String {
        let ms = d / .milliseconds(1)
        return ms >= 1000 ? String(format: "%.2f s", ms / 1000) : String(format: "%.2f ms", ms)
    }

    /// How many times longer `a` took than `b`.
    static func ratio(_ a: Duration, _ b: Duration) -> Double { (a / .seconds(1)) / max(1e-9, b / .seconds(1)) }

    static func time(_ body: () throws -> Void) throws -> Double {
        let start = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    static func timeAsync(_ body: () async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        try await body()
        return (ContinuousClock.now - start) / .seconds(1)
    }

    static func run(_ path: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
    }

    static func peakRSSMiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }
}
