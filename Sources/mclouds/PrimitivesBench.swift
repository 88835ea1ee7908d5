import ArgumentParser
import Core
import Crypto
import Foundation
import TemplateRepository

/// `mclouds bench primitives`: the single-core speed of each stage of a publish, to see where time goes.
struct PrimitivesBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "primitives", abstract: "Single-core speed of the Gear scan, SHA-256 (swift-crypto) and memory copies.")

    @Option(help: "Buffer size in MiB.") var sizeMib = 1024

    func run() async throws {
        let bytes = Synthetic.image(bytes: sizeMib << 20, seed: 5)
        let gib = Double(sizeMib) / 1024
        let chunker = GearChunker(parameters: .standard)
        var cuts = 0
        let gear = try Tools.time {
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let length = chunker.boundary(in: UnsafeRawBufferPointer(rebasing: raw[offset...]), isEnd: true)!
                    offset += length
                    cuts += 1
                }
            }
        }
        Console.line(String(format: "gear scan (cuts only):        %.2f GiB/s  (%d chunks)", gib / gear, cuts))
        var digest = ""
        let sha = try Tools.time {
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let end = min(raw.count, offset + (128 << 10))
                    digest = SHA256.hash(data: UnsafeRawBufferPointer(rebasing: raw[offset..<end])).hexString
                    offset = end
                }
            }
        }
        Console.line(String(format: "SHA-256 in 128 KiB pieces:    %.2f GiB/s  (%@)", gib / sha, String(digest.prefix(8)) as NSString))
        let whole = try Tools.time {
            var hasher = SHA256()
            bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            digest = hasher.finalize().hexString
        }
        Console.line(String(format: "SHA-256 streaming:            %.2f GiB/s", gib / whole))
        let target = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 64)
        defer { target.deallocate() }
        let copy = try Tools.time { bytes.withUnsafeBytes { target.copyMemory(from: $0) } }
        Console.line(String(format: "memcpy:                       %.2f GiB/s", gib / copy))
    }
}
