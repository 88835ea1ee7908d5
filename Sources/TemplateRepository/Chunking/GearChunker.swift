import CGear

/// FastCDC content-defined chunking: a Gear rolling hash with normalized chunking (level 2), judged on the
/// hash's upper bits (the low bits of a Gear hash are weak).
///
/// Pure and I/O-free: it is fed bytes and says where chunks end. The Gear table is fixed forever —
/// changing it would move every boundary and break deduplication against everything already published.
///
/// ```swift
/// var chunker = GearChunker(parameters: .standard)
/// let cut = chunker.boundary(in: buffer, isEnd: false)   // bytes in the next chunk, or nil: feed more
/// ```
public struct GearChunker: Sendable {
    public let parameters: ChunkingParameters
    private let strictMask: UInt64
    private let looseMask: UInt64

    /// Creates a chunker.
    public init(parameters: ChunkingParameters) {
        self.parameters = parameters
        let bits = parameters.average.trailingZeroBitCount
        // Normalized chunking level 2: harder to cut before the average size, easier after it.
        strictMask = Self.upperMask(bits: bits + 2)
        looseMask = Self.upperMask(bits: max(1, bits - 2))
    }

    static func upperMask(bits: Int) -> UInt64 {
        bits >= 64 ? ~0 : ((UInt64(1) << UInt64(bits)) - 1) << UInt64(64 - bits)
    }

    /// The length of the chunk that starts at the beginning of `bytes`.
    ///
    /// - Parameters:
    ///   - bytes: the unchunked bytes, from a chunk start.
    ///   - isEnd: true when no more bytes follow (the rest is then the last chunk).
    /// - Returns: the chunk length, or `nil` when more bytes are needed to decide.
    public func boundary(in bytes: UnsafeRawBufferPointer, isEnd: Bool) -> Int? {
        let count = bytes.count
        if count == 0 { return nil }
        if count <= parameters.minimum { return isEnd ? count : nil }
        let normal = min(parameters.average, count)
        let limit = min(parameters.maximum, count)
        let found: Int? = Self.gear.withUnsafeBufferPointer { table in
            let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let (hash, cut) = Self.scan(base, table, from: parameters.minimum, to: normal, hash: 0, mask: strictMask)
            if let cut { return cut }
            return Self.scan(base, table, from: normal, to: limit, hash: hash, mask: looseMask).cut
        }
        if let found { return found }
        if limit == parameters.maximum { return limit }
        return isEnd ? count : nil
    }

    /// Rolls the Gear hash over `base[start..<end]` and returns the first position after which
    /// `hash & mask == 0` (as a length from `base`), with the hash reached.
    ///
    /// The loop is in C (`CGear`): on x86-64 one `lea` per byte rolls the hash, half the loop-carried
    /// latency of the shift-and-add the compiler emits otherwise, which is what bounds this scan.
    @inline(__always)
    static func scan(
        _ base: UnsafePointer<UInt8>, _ table: UnsafeBufferPointer<UInt64>, from start: Int, to end: Int, hash: UInt64, mask: UInt64
    ) -> (hash: UInt64, cut: Int?) {
        var h = hash
        let cut = mc_gear_scan(base, start, end, &h, mask, table.baseAddress!)
        return (h, cut < 0 ? nil : cut)
    }

    /// Chunk lengths of a whole in-memory buffer (for tests and small inputs).
    public func chunkLengths(of bytes: [UInt8]) -> [Int] {
        bytes.withUnsafeBytes { raw in
            var lengths: [Int] = []
            var offset = 0
            while offset < raw.count {
                let rest = UnsafeRawBufferPointer(rebasing: raw[offset...])
                let length = boundary(in: rest, isEnd: true)!
                lengths.append(length)
                offset += length
            }
            return lengths
        }
    }

    /// 256 pseudo-random 64-bit values from SplitMix64 seeded with a fixed constant.
    static let gear: [UInt64] = {
        var state: UInt64 = 0x6D63_6C6F_7564_7321  // "mclouds!"
        return (0..<256).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }()
}
