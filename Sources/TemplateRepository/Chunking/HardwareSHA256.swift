import CSHA256
import Core

/// SHA-256 on the CPU's SHA extensions, able to hash two streams in one interleaved loop: a chunk's
/// digest and the whole image's digest cost about what one of them costs alone.
struct HardwareSHA256: Sendable {
    /// Whether this CPU has the SHA extensions.
    static let isAvailable = mc_sha256_available() == 1

    private var context = mc_sha256()

    /// A fresh stream. Only when ``isAvailable``.
    init() { mc_sha256_init(&context) }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        mc_sha256_update(&context, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    /// Feeds the same bytes to two streams at once.
    static func update(_ first: inout HardwareSHA256, _ second: inout HardwareSHA256, with bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        mc_sha256_update2(&first.context, base, bytes.count, &second.context, base, bytes.count)
    }

    /// The digest as lower-case hex (the stream is spent).
    mutating func finalizeHex() -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        digest.withUnsafeMutableBufferPointer { mc_sha256_final(&context, $0.baseAddress!) }
        return digest.hexString
    }
}
