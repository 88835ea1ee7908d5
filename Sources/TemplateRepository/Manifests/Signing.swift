import Core
import Crypto
import Foundation

/// A document and the Ed25519 signatures over its canonical encoding (TUF-style `signed` + `signatures`).
public struct SignedDocument<Body: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    public var signed: Body
    public var signatures: [Signature]

    /// One signature: the key id and the base64 Ed25519 signature.
    public struct Signature: Codable, Sendable, Hashable {
        public var keyid: String
        public var sig: String
    }

    /// The bytes a signature covers: the body encoded in declaration order, compact.
    public static func canonicalBytes(_ body: Body) throws -> [UInt8] {
        try OrderedJSONEncoder().encode(body).serializedBytes()
    }

    /// The document as served: compact JSON, `signed` first.
    public func serializedBytes() throws -> [UInt8] {
        try OrderedJSONEncoder().encode(self).serializedBytes()
    }
}

/// A publisher's Ed25519 key pair (kept as its 32 raw bytes, so the value is `Sendable`).
public struct PublisherKey: Sendable {
    /// The raw private key.
    public let rawRepresentation: Data

    /// A new random key.
    public init() { rawRepresentation = Curve25519.Signing.PrivateKey().rawRepresentation }

    /// A key from its 32-byte raw representation.
    /// - Throws: when the bytes are not an Ed25519 private key.
    public init(rawRepresentation: Data) throws {
        _ = try Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation)
        self.rawRepresentation = rawRepresentation
    }

    var privateKey: Curve25519.Signing.PrivateKey { try! Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation) }

    public var publicKey: TrustedKey { TrustedKey(validated: privateKey.publicKey.rawRepresentation) }

    /// Signs `body` and wraps it.
    public func sign<Body>(_ body: Body) throws -> SignedDocument<Body> {
        try signed(body).document
    }

    /// Signs `body` and returns the document as served (`SignedDocument.serializedBytes()`), encoding the
    /// body once: a manifest lists every chunk, and encoding it twice was most of a commit's time.
    public func signedBytes<Body: Codable & Sendable & Hashable>(_ body: Body) throws -> [UInt8] {
        let (document, canonical) = try signed(body)
        let signatures = try OrderedJSONEncoder().encode(document.signatures).serializedBytes()
        return Array(#"{"signed":"#.utf8) + canonical + Array(#","signatures":"#.utf8) + signatures + [UInt8(ascii: "}")]
    }

    private func signed<Body: Codable & Sendable & Hashable>(_ body: Body) throws -> (document: SignedDocument<Body>, canonical: [UInt8]) {
        let canonical = try SignedDocument<Body>.canonicalBytes(body)
        let signature = try privateKey.signature(for: canonical)
        let document = SignedDocument(signed: body, signatures: [.init(keyid: publicKey.keyID, sig: Data(signature).base64EncodedString())])
        return (document, canonical)
    }
}

/// A public key readers trust. Its id is the SHA-256 of the raw public key (hex).
public struct TrustedKey: Sendable, Hashable {
    /// The raw 32-byte public key.
    public let rawRepresentation: Data

    init(validated raw: Data) { rawRepresentation = raw }

    /// A key from its base64 raw representation (as `mclouds keys generate` prints it).
    /// - Throws: ``TemplateRepositoryError`` `badKey` when it is not an Ed25519 public key.
    public init(base64: String) throws {
        guard let data = Data(base64Encoded: base64), (try? Curve25519.Signing.PublicKey(rawRepresentation: data)) != nil else {
            throw TemplateRepositoryError.badKey(path: "(inline)", reason: "not a base64 Ed25519 public key")
        }
        rawRepresentation = data
    }

    public var keyID: String { SHA256.hash(data: rawRepresentation).hexString }
    public var base64: String { rawRepresentation.base64EncodedString() }

    func isValidSignature(_ signature: Data, for bytes: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: rawRepresentation) else { return false }
        return key.isValidSignature(signature, for: bytes)
    }
}

/// Verifies signed documents against trusted keys, their expiry and the catalog serial.
public struct DocumentVerifier: Sendable {
    public let trusted: [String: TrustedKey]

    public init(trusted: [TrustedKey]) {
        self.trusted = Dictionary(trusted.map { ($0.keyID, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The body, if at least one signature is by a trusted key and verifies.
    /// - Throws: ``TemplateRepositoryError`` `untrustedKey` or `badSignature`.
    public func verify<Body>(_ document: SignedDocument<Body>, name: String) throws -> Body {
        let bytes = try SignedDocument<Body>.canonicalBytes(document.signed)
        var sawTrusted: String?
        for signature in document.signatures {
            guard let key = trusted[signature.keyid] else { continue }
            sawTrusted = signature.keyid
            if let sig = Data(base64Encoded: signature.sig), key.isValidSignature(sig, for: bytes) { return document.signed }
        }
        if sawTrusted == nil { throw TemplateRepositoryError.untrustedKey(keyID: document.signatures.first?.keyid ?? "(no signature)") }
        throw TemplateRepositoryError.badSignature(document: name)
    }

    /// A verified catalog that is neither expired at `now` nor older than `lastSerial`.
    public func verifyCatalog(_ document: SignedDocument<Catalog>, now: Date, lastSerial: Int?) throws -> Catalog {
        let catalog = try verify(document, name: "catalog serial \(document.signed.serial)")
        guard let expires = Timestamps.date(from: catalog.expires) else {
            throw TemplateRepositoryError.malformed(document: "catalog", reason: "expires \(catalog.expires) is not a date")
        }
        if expires <= now { throw TemplateRepositoryError.expired(document: "catalog serial \(catalog.serial)", expiredAt: catalog.expires) }
        if let lastSerial, catalog.serial < lastSerial { throw TemplateRepositoryError.replayed(serial: catalog.serial, lastSeen: lastSerial) }
        return catalog
    }

    /// A verified manifest whose layout tiles its image and which has not expired.
    public func verifyManifest(_ document: SignedDocument<TemplateManifest>, now: Date) throws -> TemplateManifest {
        let manifest = try verify(document, name: "manifest \(document.signed.name)@\(document.signed.version)")
        try manifest.validateLayout()
        if let expires = manifest.expires, let date = Timestamps.date(from: expires), date <= now {
            throw TemplateRepositoryError.expired(document: "manifest \(manifest.name)@\(manifest.version)", expiredAt: expires)
        }
        return manifest
    }
}
