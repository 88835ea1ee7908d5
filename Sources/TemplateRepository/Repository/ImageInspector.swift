import Foundation

/// Checks that an image is what its declared format says (pure: it reads through the closure it is given,
/// so the same check runs on a local file before a publish and on uploaded chunks before a commit).
///
/// - QCOW2: the `QFI\xfb` magic, version 2 or 3, a whole header, a cluster size of 512 B–2 MiB, a virtual size.
/// - VHD: the 512-byte `conectix` footer at the end, with a checksum that adds up and a known disk type.
/// - OVA: a tar archive (ustar headers whose checksums add up) holding an `.ovf` descriptor.
/// - RAW: at least one 512-byte sector, a whole number of sectors.
public enum ImageInspector {
    /// Reads `count` bytes at `offset` (fewer only at the end of the image).
    public typealias Reader = (_ offset: Int64, _ count: Int) throws -> [UInt8]

    /// - Throws: ``TemplateRepositoryError`` `badImage` naming what is wrong.
    public static func check(format: ImageFormat, size: Int64, read: Reader) throws {
        func bad(_ reason: String) -> TemplateRepositoryError { .badImage(format: format.rawValue, reason: reason) }
        guard size > 0 else { throw bad("the file is empty") }
        switch format {
        case .raw:
            guard size >= 512, size % 512 == 0 else {
                throw bad("\(size) bytes is not a whole number of 512-byte sectors, so it is not a disk image")
            }
        case .qcow2:
            let header = try read(0, 104)
            guard header.count >= 72, header[0..<4].elementsEqual([0x51, 0x46, 0x49, 0xFB]) else {
                throw bad("it does not start with the QCOW2 magic QFI\\xfb (\(size) bytes)")
            }
            let version = bigEndian(header, 4, 4)
            guard version == 2 || version == 3 else { throw bad("QCOW2 version \(version) is not 2 or 3") }
            if version == 3 {
                guard header.count >= 104, bigEndian(header, 100, 4) >= 104 else { throw bad("the QCOW2 version 3 header is cut short") }
            }
            let clusterBits = bigEndian(header, 20, 4)
            guard (9...21).contains(clusterBits) else { throw bad("cluster bits \(clusterBits) are outside 9–21") }
            guard bigEndian(header, 24, 8) > 0 else { throw bad("the virtual disk size is 0") }
        case .vhd:
            guard size >= 512 else { throw bad("\(size) bytes cannot hold the 512-byte VHD footer") }
            let footer = try read(size - 512, 512)
            guard footer.count == 512, footer[0..<8].elementsEqual(Array("conectix".utf8)) else {
                throw bad("the last 512 bytes are not a VHD footer (no conectix cookie)")
            }
            var sum: UInt32 = 0
            for (i, byte) in footer.enumerated() where !(64..<68).contains(i) { sum &+= UInt32(byte) }
            guard ~sum == UInt32(bigEndian(footer, 64, 4)) else { throw bad("the VHD footer's checksum does not add up") }
            let diskType = bigEndian(footer, 60, 4)
            guard [2, 3, 4].contains(diskType) else { throw bad("VHD disk type \(diskType) is not fixed, dynamic or differencing") }
        case .ova:
            try checkOVA(size: size, read: read, bad: bad)
        }
    }

    /// Checks a file on disk.
    /// - Throws: ``TemplateRepositoryError`` `unreadableImage` or `badImage`.
    public static func check(format: ImageFormat, path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw TemplateRepositoryError.unreadableImage(path: path, reason: "no such file, or not readable")
        }
        defer { try? handle.close() }
        let size: Int64
        do { size = Int64(try handle.seekToEnd()) } catch {
            throw TemplateRepositoryError.unreadableImage(path: path, reason: "cannot find its size")
        }
        try check(format: format, size: size) { offset, count in
            do {
                try handle.seek(toOffset: UInt64(offset))
                return [UInt8](try handle.read(upToCount: count) ?? Data())
            } catch {
                throw TemplateRepositoryError.unreadableImage(path: path, reason: "a read at offset \(offset) failed")
            }
        }
    }

    /// Walks the tar headers (at most 10,000) until an `.ovf` entry is found.
    static func checkOVA(size: Int64, read: Reader, bad: (String) -> TemplateRepositoryError) throws {
        var offset: Int64 = 0
        var entries = 0
        while offset + 512 <= size, entries < 10_000 {
            let header = try read(offset, 512)
            guard header.count == 512 else { break }
            if header.allSatisfy({ $0 == 0 }) { break }
            guard header[257..<262].elementsEqual(Array("ustar".utf8)) else {
                throw bad(offset == 0 ? "it is not a tar archive (no ustar header)" : "tar entry \(entries + 1) has no ustar header")
            }
            let stored = octal(header[148..<156])
            let computed = header.enumerated().reduce(0) { $0 + (148..<156 ~= $1.offset ? 32 : Int($1.element)) }
            guard stored == computed else { throw bad("the checksum of tar entry \(entries + 1) does not add up") }
            let name = String(decoding: header[0..<100].prefix { $0 != 0 }, as: UTF8.self)
            if name.lowercased().hasSuffix(".ovf") { return }
            let length = Int64(octal(header[124..<136]))
            offset += 512 + (length + 511) / 512 * 512
            entries += 1
        }
        throw bad("the archive holds no .ovf descriptor")
    }

    static func bigEndian(_ bytes: [UInt8], _ offset: Int, _ count: Int) -> UInt64 {
        bytes[offset..<offset + count].reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func octal(_ field: ArraySlice<UInt8>) -> Int {
        field.reduce(into: (value: 0, done: false)) { state, byte in
            guard !state.done else { return }
            if (0x30...0x37).contains(byte) {
                state.value = state.value * 8 + Int(byte - 0x30)
            } else if byte == 0 || byte == 0x20 {
                if state.value > 0 { state.done = true }
            } else {
                state.done = true
            }
        }.value
    }
}

extension ImageInspector {
    /// Checks an image whose chunks are in `store` (an upload about to be committed).
    /// - Throws: ``TemplateRepositoryError`` `badImage`, or what reading a chunk throws.
    public static func check(format: ImageFormat, image: ChunkedImage, store: FileChunkStore) throws {
        let chunks = image.chunks
        try check(format: format, size: image.size) { offset, count in
            var result: [UInt8] = []
            // The first chunk ending after `offset`, then on until `count` bytes are read or the image ends.
            var index = chunks.partitioningIndex { $0.offset + Int64($0.length) > offset }
            while index < chunks.count, result.count < count {
                let chunk = chunks[index]
                let bytes = try store.get(chunk.digest)
                let start = Int(max(offset + Int64(result.count) - chunk.offset, 0))
                let end = min(bytes.count, start + count - result.count)
                if start < end { result += bytes[start..<end] }
                index += 1
            }
            return result
        }
    }
}

extension Array {
    /// The index of the first element for which `predicate` holds, in an array where it holds for a suffix.
    fileprivate func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if predicate(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
