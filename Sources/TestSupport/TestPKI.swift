import Crypto
import Foundation
import SwiftASN1
import X509

/// A certificate authority of a test's own and the server certificates it signs (for 127.0.0.1, ::1 and
/// localhost), written as PEM files — what a partner's CA or Let's Encrypt would hand an operator.
public struct TestPKI {
    /// The CA certificate's PEM file (what clients trust).
    public let caFile: String
    private let caKey: P256.Signing.PrivateKey
    private let caName: DistinguishedName
    private let directory: URL

    /// A new CA named `name`, its certificate in `directory`.
    public init(name: String, in directory: URL) throws {
        self.directory = directory
        caKey = P256.Signing.PrivateKey()
        caName = try DistinguishedName { CommonName(name) }
        let now = Date()
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey), notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(86_400 * 30), issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                KeyUsage(keyCertSign: true, cRLSign: true)
            }, issuerPrivateKey: .init(caKey))
        caFile = directory.appendingPathComponent("\(name)-ca.pem").path
        try ca.serializeAsPEM().pemString.write(toFile: caFile, atomically: true, encoding: .utf8)
    }

    /// A server certificate with common name `commonName`, signed by this CA: (certificate file, key file). Written
    /// to `certificate` and `key` when given (replacing what is there, as a renewal does), else to new files.
    public func issue(commonName: String, certificate: String? = nil, key: String? = nil) throws -> (certificate: String, key: String) {
        let leafKey = P256.Signing.PrivateKey()
        let now = Date()
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey), notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(86_400 * 7), issuer: caName, subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            }, issuerPrivateKey: .init(caKey))
        let certificatePath = certificate ?? directory.appendingPathComponent("\(commonName).pem").path
        let keyPath = key ?? directory.appendingPathComponent("\(commonName).key").path
        // Written to a temporary file and renamed, as certbot does: a reader never sees half a file.
        try leafKey.pemRepresentation.write(toFile: keyPath, atomically: true, encoding: .utf8)
        try leaf.serializeAsPEM().pemString.write(toFile: certificatePath, atomically: true, encoding: .utf8)
        chmod(keyPath, 0o600)
        return (certificatePath, keyPath)
    }
}
