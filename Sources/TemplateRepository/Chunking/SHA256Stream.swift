import Core
import Crypto

/// SHA-256 for readers of chunks and images: on the CPU's SHA extensions when it has them (several
/// times faster than the portable code on the machines we run on), else swift-crypto.
public struct SHA256Stream {
    private enum Engine {
        case hardware(HardwareSHA256)
        case portable(SHA256)
    }

    private var engine: Engine

    public init() {
        engine = HardwareSHA256.isAvailable ? .hardware(HardwareSHA256()) : .portable(SHA256())
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch engine {
        case .hardware(var h):
            h.update(bytes)
            engine = .hardware(h)
        case .portable(var p):
            p.update(bufferPointer: bytes)
            engine = .portable(p)
        }
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// Feeds the same bytes to two streams, in one interleaved pass on the SHA extensions (a chunk's digest
    /// and the whole image's cost about what one costs alone).
    public static func update(_ first: inout SHA256Stream, _ second: inout SHA256Stream, with bytes: UnsafeRawBufferPointer) {
        if case .hardware(var a) = first.engine, case .hardware(var b) = second.engine {
            HardwareSHA256.update(&a, &b, with: bytes)
            first.engine = .hardware(a)
            second.engine = .hardware(b)
        } else {
            first.update(bytes)
            second.update(bytes)
        }
    }

    /// The digest as lower-case hex.
    public mutating func finalizeHex() -> String {
        switch engine {
        case .hardware(var h): return h.finalizeHex()
        case .portable(let p): return p.finalize().hexString
        }
    }

    /// The digest of `bytes` as lower-case hex.
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        var stream = SHA256Stream()
        stream.update(bytes)
        return stream.finalizeHex()
    }

    public static func hex(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { hex($0) } }
}
