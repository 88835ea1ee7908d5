import Core
import Crypto
import Foundation
import Testing

@testable import TemplateRepository

func sampleManifest(key: PublisherKey, expires: String? = nil) throws -> TemplateManifest {
    let image = try ImageChunker(parameters: small).chunk(bytes: randomBytes(100_000, seed: 9))
    return TemplateManifest(
        name: "ubuntu-22.04", version: "1.0.0", format: .qcow2, hypervisor: .kvm, osType: "Ubuntu 22.04 LTS", displayText: "Ubuntu",
        software: ["gcc", "klayout"], image: image, chunking: small, created: Timestamps.string(from: Date()), publisherKeyID: key.publicKey.keyID,
        expires: expires)
}

@Suite("Signed manifests and catalogs")
struct SigningTests {
    @Test("a signed manifest verifies with the publisher's key and survives a JSON round trip")
    func roundTrip() throws {
        let key = PublisherKey()
        let signed = try key.sign(try sampleManifest(key: key))
        let wire = try signed.serializedBytes()
        let decoded = try JSONDecoder().decode(SignedDocument<TemplateManifest>.self, from: Data(wire))
        let verifier = DocumentVerifier(trusted: [key.publicKey])
        #expect(try verifier.verifyManifest(decoded, now: Date()) == signed.signed)
    }

    @Test("the document as served, built around a body encoded once, is exactly the encoder's and verifies")
    func servedBytes() throws {
        let key = PublisherKey()
        let wire = try key.signedBytes(try sampleManifest(key: key))
        let decoded = try JSONDecoder().decode(SignedDocument<TemplateManifest>.self, from: Data(wire))
        #expect(try decoded.serializedBytes() == wire)
        #expect(try DocumentVerifier(trusted: [key.publicKey]).verifyManifest(decoded, now: Date()).chunks.count > 1)
    }

    @Test("a tampered manifest, an unknown key and a broken chunk layout are refused")
    func tampering() throws {
        let key = PublisherKey()
        var signed = try key.sign(try sampleManifest(key: key))
        let verifier = DocumentVerifier(trusted: [key.publicKey])
        signed.signed.chunks[0].digest = String(repeating: "0", count: 64)
        #expect(throws: TemplateRepositoryError.self) { try verifier.verifyManifest(signed, now: Date()) }
        let other = PublisherKey()
        let foreign = try other.sign(try sampleManifest(key: other))
        do {
            _ = try verifier.verifyManifest(foreign, now: Date())
            Issue.record("an untrusted key must be refused")
        } catch let error as TemplateRepositoryError {
            #expect(error.isTrustFailure)
        }
        var gap = try sampleManifest(key: key)
        gap.chunks.removeLast()
        #expect(throws: TemplateRepositoryError.self) { try verifier.verifyManifest(try key.sign(gap), now: Date()) }
    }

    @Test("an expired catalog and a replayed older serial are refused; a newer one is accepted")
    func catalogFreshness() throws {
        let key = PublisherKey()
        let verifier = DocumentVerifier(trusted: [key.publicKey])
        let now = Date()
        let entry = Catalog.Entry(name: "ubuntu-22.04", version: "1.0.0", manifestDigest: String(repeating: "1", count: 64), size: 100)
        let fresh = try key.sign(
            Catalog(serial: 7, issued: Timestamps.string(from: now), expires: Timestamps.string(from: now.addingTimeInterval(3600)), entries: [entry])
        )
        #expect(try verifier.verifyCatalog(fresh, now: now, lastSerial: 6).serial == 7)
        #expect(try verifier.verifyCatalog(fresh, now: now, lastSerial: 7).serial == 7)
        #expect(throws: TemplateRepositoryError.self) { try verifier.verifyCatalog(fresh, now: now, lastSerial: 8) }
        #expect(throws: TemplateRepositoryError.self) { try verifier.verifyCatalog(fresh, now: now.addingTimeInterval(7200), lastSerial: nil) }
        var altered = fresh
        altered.signed.serial = 99
        #expect(throws: TemplateRepositoryError.self) { try verifier.verifyCatalog(altered, now: now, lastSerial: nil) }
    }
}
