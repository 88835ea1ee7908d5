import Crypto
import Federation
import Foundation
import TestSupport
import Testing

@Suite("Secrets at rest: the key ring and its rotation")
struct SecretBoxTests {
    func kind(_ body: () throws -> Void) -> FederationError.Kind? {
        do {
            try body()
            return nil
        } catch let error as FederationError {
            return error.kind
        } catch {
            return nil
        }
    }

    @Test("a key file of 32 raw bytes (before key rings) still opens what it sealed, untagged; new texts name their key")
    func legacyKeyFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("secrets.aes256").path
            let key = SymmetricKey(size: .bits256)
            #expect(FileManager.default.createFile(atPath: path, contents: key.withUnsafeBytes { Data($0) }, attributes: [.posixPermissions: 0o600]))
            let old = try AES.GCM.seal(Data("the old secret".utf8), using: key).combined!.base64EncodedString()
            let box = try SecretBox.open(keyFile: path, create: false)
            #expect(try box.open(old) == "the old secret")
            let sealed = try box.seal("a new secret")
            let id = try box.currentKeyID()
            #expect(sealed.hasPrefix("mcs1:\(id):") && !sealed.contains("a new secret"))
            #expect(try box.open(sealed) == "a new secret")
            #expect(kind { _ = try box.open(sealed.dropLast(4) + "AAA=") } == .secret)
        }
    }

    @Test("rotation: a box already open sees the new key at its next use and opens both; after retiring, the old key's texts fail")
    func rotation() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("keys/ring").path
            var created = ""
            let box = try SecretBox.open(keyFile: path) { created = $0 }
            #expect(created == path)
            #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
            let first = try box.currentKeyID()
            let before = try box.seal("sealed before")
            let second = try SecretBox.rotate(keyFile: path)
            let ids = try SecretBox.keyIDs(keyFile: path)
            #expect(second != first && ids == [second, first])
            #expect(try box.currentKeyID() == second)
            let after = try box.seal("sealed after")
            let (beforeCurrent, afterCurrent) = (try box.isCurrent(before), try box.isCurrent(after))
            #expect(after.hasPrefix("mcs1:\(second):") && !beforeCurrent && afterCurrent)
            #expect(try box.open(before) == "sealed before")
            #expect(try box.open(after) == "sealed after")
            #expect(try SecretBox.retire(keyFile: path) == [first])
            #expect(kind { _ = try box.open(before) } == .secret)
            #expect(try box.open(after) == "sealed after")
        }
    }

    @Test("MCLOUDS_SECRETS_KEY holds the ring instead of a file; a malformed one is refused")
    func environment() throws {
        let one = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        let two = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        let old = try SecretBox.open(keyFile: "/nonexistent", create: false, environment: [SecretBox.environmentVariable: one])
        let sealed = try old.seal("x")
        let ring = try SecretBox.open(keyFile: "/nonexistent", create: false, environment: [SecretBox.environmentVariable: "\(two),\(one)"])
        #expect(try ring.open(sealed) == "x")
        #expect(try !ring.isCurrent(sealed))
        #expect(!FileManager.default.fileExists(atPath: "/nonexistent"))
        #expect(kind { _ = try SecretBox.open(keyFile: "/nonexistent", environment: [SecretBox.environmentVariable: "not a key"]) } == .secret)
    }

    @Test("the registry seals every region's secret again under the new key", arguments: TestDatabase.available)
    func reseal(backend: TestDatabase) async throws {
        try await withRegistry(on: backend) { registry, _, directory in
            let path = directory.appendingPathComponent("keys/secrets.key").path
            for (id, name) in [(1, "MECA-PolITO"), (6, "MECA-TUS")] {
                try await registry.add(
                    FederationRegion(id: id, name: name, endpoint: "http://127.0.0.1:9/client/api", apiKey: "K\(id)"), secretKey: "secret-\(id)")
            }
            let old = try SecretBox.keyIDs(keyFile: path)
            try SecretBox.rotate(keyFile: path)
            let first = try await registry.reseal()
            #expect(first.resealed == 2 && first.remaining == 0)
            let again = try await registry.reseal()
            #expect(again.resealed == 0 && again.remaining == 0)
            #expect(try SecretBox.retire(keyFile: path) == old)
            #expect(try await registry.credentials(6).secretKey == "secret-6")
            let all = try await registry.allCredentials().mapValues(\.secretKey)
            #expect(all == [1: "secret-1", 6: "secret-6"])
        }
    }
}
