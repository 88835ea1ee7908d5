import Core
import Foundation
import TemplateRepository
import TestSupport
import Testing

@Suite("ImageInspector: an image is what its format says")
struct ImageInspectorTests {
    func check(_ format: ImageFormat, _ bytes: [UInt8]) throws {
        try ImageInspector.check(format: format, size: Int64(bytes.count)) { offset, count in
            let start = Int(min(offset, Int64(bytes.count)))
            return Array(bytes[start..<min(bytes.count, start + count)])
        }
    }

    func refused(_ format: ImageFormat, _ bytes: [UInt8]) -> Bool {
        do {
            try check(format, bytes)
            return false
        } catch let error as TemplateRepositoryError {
            return error.httpStatus == 400
        } catch {
            return false
        }
    }

    @Test("QCOW2: a 3-byte file, an empty file, a wrong magic, version or cluster size are refused; a real header passes")
    func qcow2() throws {
        #expect(refused(.qcow2, [0x51, 0x46, 0x49]))
        #expect(refused(.qcow2, []))
        #expect(refused(.qcow2, [UInt8](repeating: 0, count: 4096)))
        var header = QCOW2Header.bytes()
        header += [UInt8](repeating: 0, count: 1000)
        try check(.qcow2, header)
        var version4 = header
        version4[7] = 4
        #expect(refused(.qcow2, version4))
        var clusters = header
        clusters[23] = 30
        #expect(refused(.qcow2, clusters))
        var short = header
        short[103] = 72
        #expect(refused(.qcow2, short))
    }

    /// A fixed VHD of `sectors` zero sectors and its footer (checksum: one's complement of the byte sum).
    static func vhd(sectors: Int, diskType: UInt8 = 2) -> [UInt8] {
        var footer = [UInt8](repeating: 0, count: 512)
        footer[0..<8] = ArraySlice("conectix".utf8)
        footer[63] = diskType
        let sum = footer.reduce(UInt32(0)) { $0 &+ UInt32($1) }
        let checksum = ~sum
        for i in 0..<4 { footer[64 + i] = UInt8(truncatingIfNeeded: checksum >> (24 - 8 * UInt32(i))) }
        return [UInt8](repeating: 0, count: sectors * 512) + footer
    }

    @Test("VHD: the footer's cookie, checksum and disk type are checked")
    func vhd() throws {
        try check(.vhd, Self.vhd(sectors: 8))
        var broken = Self.vhd(sectors: 8)
        broken[broken.count - 1] ^= 1
        #expect(refused(.vhd, broken))
        #expect(refused(.vhd, Self.vhd(sectors: 8, diskType: 9)))
        #expect(refused(.vhd, [UInt8](repeating: 0, count: 4096)))
        #expect(refused(.vhd, [1, 2, 3]))
    }

    @Test("OVA: a tar made by tar(1) with an .ovf descriptor passes; one without, or not a tar, is refused")
    func ova() async throws {
        try await withTemporaryDirectory { directory in
            try Data("<Envelope/>".utf8).write(to: directory.appendingPathComponent("lab.ovf"))
            try Data(repeating: 1, count: 3000).write(to: directory.appendingPathComponent("disk1.vmdk"))
            try Data("x".utf8).write(to: directory.appendingPathComponent("lab.mf"))
            for (name, members, valid) in [("good.ova", ["disk1.vmdk", "lab.mf", "lab.ovf"], true), ("bad.ova", ["disk1.vmdk", "lab.mf"], false)] {
                let result = try await runProgram(
                    "/usr/bin/tar", ["--format=ustar", "-C", directory.path, "-cf", directory.appendingPathComponent(name).path] + members)
                #expect(result.status == 0, "\(result.stderr)")
                let bytes = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
                if valid { try check(.ova, bytes) } else { #expect(refused(.ova, bytes)) }
                // The same check on the file itself.
                if valid { try ImageInspector.check(format: .ova, path: directory.appendingPathComponent(name).path) }
            }
            #expect(refused(.ova, QCOW2Header.bytes() + [UInt8](repeating: 0, count: 2048)))
        }
    }

    @Test("RAW: at least one whole 512-byte sector")
    func raw() throws {
        try check(.raw, [UInt8](repeating: 0, count: 1024))
        #expect(refused(.raw, [UInt8](repeating: 0, count: 1000)))
        #expect(refused(.raw, []))
    }

    @Test("OS types: a CloudStack guest OS name passes; an unknown one is refused with the nearest known name")
    func osTypes() throws {
        try GuestOSTypes().check("Ubuntu 22.04 LTS")
        #expect(throws: TemplateRepositoryError.unknownOSType("Ubuntu 22.04", suggestion: "Ubuntu 22.04 LTS")) {
            try GuestOSTypes().check("Ubuntu 22.04")
        }
        #expect(throws: TemplateRepositoryError.unknownOSType("Plan 9 from Bell Labs", suggestion: nil)) {
            try GuestOSTypes().check("Plan 9 from Bell Labs")
        }
        try GuestOSTypes(adding: ["Plan 9 from Bell Labs"]).check("Plan 9 from Bell Labs")
    }
}

@Suite("Publish checks what it publishes")
struct PublishValidationTests {
    @Test("a 3-byte QCOW2, an empty file and an unknown OS type are refused by publish and commit; nothing is listed")
    func repositoryRefuses() async throws {
        let t = try await TemporaryRepository.make()
        defer { t.remove() }
        for bytes in [[0x51, 0x46, 0x49], []] as [[UInt8]] {
            let path = try t.writeImage(bytes)
            await #expect(throws: TemplateRepositoryError.self) { try await t.repository.publish(imageAt: path, metadata: metadata()) }
        }
        let good = try t.writeImage(imageBytes(50_000, seed: 3))
        var unknown = metadata()
        unknown.osType = "Ubuntu 22.04"
        await #expect(throws: TemplateRepositoryError.unknownOSType("Ubuntu 22.04", suggestion: "Ubuntu 22.04 LTS")) {
            try await t.repository.publish(imageAt: good, metadata: unknown)
        }
        // An upload whose chunks are not a QCOW2 image is refused at commit.
        let raw = randomBytes(50_000, seed: 4)
        let image = try ImageChunker(parameters: small).chunk(bytes: raw) { reference, bytes in
            _ = try t.repository.chunks.put(reference.digest, bytes: Array(bytes))
        }
        await #expect(throws: TemplateRepositoryError.self) { try await t.repository.commit(metadata(), image: image) }
        #expect(try await t.repository.templates().isEmpty)
        _ = try await t.repository.publish(imageAt: good, metadata: metadata())
        #expect(try await t.repository.templates().count == 1)
    }
}
