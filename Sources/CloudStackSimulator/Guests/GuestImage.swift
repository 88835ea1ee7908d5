import Core
import Crypto
import Foundation

/// The disk a provisioned guest leaves behind, made without running anything: the base template's image,
/// then for every line of the user data (what it installs, writes and runs) a block of bytes that follows
/// from that line alone. The same base and user data always make the same image; changing one package
/// changes one block, so successive builds share most of their content, as real rebuilds do.
enum GuestImage {
    /// The lines of `userData` that shape the disk: not blank, and not the build plan (its callback token is new each build).
    static func lines(of userData: String) -> [String] {
        let plan = GuestPlan.find(in: userData)?.encoded
        return userData.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { line in
            !line.isEmpty && !line.contains(GuestPlan.marker) && !(plan.map { line.contains($0) } ?? false)
        }
    }

    /// The bytes one line of user data adds: 48–176 KiB, seeded by the line's SHA-256.
    static func block(for line: String) -> [UInt8] {
        let digest = Array(SHA256.hash(data: Array(line.utf8)))
        let seed = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        var generator = SplitMix64(seed: seed)
        let count = (48 << 10) + Int(seed % UInt64(128 << 10))
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in words.indices { words[i] = generator.next() }
        }
        return bytes
    }

    /// Writes the provisioned disk of a guest from the base image at `base` (if any) and `userData` to `path`.
    /// - Returns: the image's size in bytes.
    static func write(base: String?, userData: String, to path: String) throws -> Int64 {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? out.close() }
        var size: Int64 = 0
        if let base, let input = FileHandle(forReadingAtPath: base) {
            defer { try? input.close() }
            while let data = try input.read(upToCount: 4 << 20), !data.isEmpty {
                try out.write(contentsOf: data)
                size += Int64(data.count)
            }
        } else {
            let header = QCOW2Header.bytes()
            try out.write(contentsOf: Data(header))
            size += Int64(header.count)
        }
        for line in lines(of: userData) {
            let block = block(for: line)
            try out.write(contentsOf: Data(block))
            size += Int64(block.count)
        }
        return size
    }
}
