import CloudStack
import CloudStackSimulator
import Core
import Crypto
import Dashboard
import Federation
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Storage
import SwiftASN1
import TestSupport
import X509

var quietLogger: Logger {
    var logger = Logger(label: "test.dashboard")
    logger.logLevel = .critical
    return logger
}

/// A registry and snapshot store in one fresh SQLite file.
func withDashboardStores<T>(on backend: TestDatabase = .sqlite, _ body: (RegionRegistry, SnapshotStore) async throws -> T) async throws -> T {
    try await withTemporaryDirectory { directory in
        let store = try await backend.open(in: directory, migrations: [])
        let registry = try await RegionRegistry.open(
            database: store, secrets: try SecretBox.open(keyFile: directory.appendingPathComponent("secrets.key").path))
        return try await body(registry, try await SnapshotStore.open(database: store))
    }
}

func simulatorConfiguration(_ id: Int, _ name: String, hosts: Int = 4, vms: Int = 0) -> SimulatorConfiguration {
    var c = SimulatorConfiguration.default(regionName: name)
    c.regionID = id
    c.zones[0].hostCount = hosts
    c.seedVirtualMachines = vms
    c.jobDurationMilliseconds = 20
    c.allocationAlgorithm = .firstfit
    return c
}

func register(_ simulator: Simulator, in registry: RegionRegistry) async throws {
    try await registry.add(
        FederationRegion(
            id: simulator.configuration.regionID, name: simulator.configuration.regionName, endpoint: simulator.endpoint,
            apiKey: simulator.adminKeys.apikey!), secretKey: simulator.adminKeys.secretkey!)
}

func client(for simulator: Simulator) -> CloudStackClient {
    var c = CloudStackClient.Configuration(
        endpoint: simulator.endpoint, apiKey: simulator.adminKeys.apikey!, secretKey: simulator.adminKeys.secretkey!)
    c.jobPollInitial = .milliseconds(10)
    return CloudStackClient(configuration: c)
}

/// A test certificate authority and a server certificate it signs, made here with swift-certificates.
struct TestPKI {
    let caCertificate: Certificate
    let serverCertificate: Certificate
    let serverKey: P256.Signing.PrivateKey

    init(validFor days: Double, notBefore: Date = Date().addingTimeInterval(-3600)) throws {
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            CommonName("mClouds Test CA"); OrganizationName("mClouds tests")
        }
        caCertificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey), notValidBefore: notBefore,
            notValidAfter: Date().addingTimeInterval(365 * 86_400), issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                KeyUsage(keyCertSign: true)
            }, issuerPrivateKey: .init(caKey))
        serverKey = P256.Signing.PrivateKey()
        serverCertificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey), notValidBefore: notBefore,
            notValidAfter: Date().addingTimeInterval(days * 86_400), issuer: caName,
            subject: try DistinguishedName {
                CommonName("localhost"); OrganizationName("MECA test region")
            }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
                try ExtendedKeyUsage([.serverAuth])
            }, issuerPrivateKey: .init(caKey))
    }

    func nioCertificate(_ certificate: Certificate) throws -> NIOSSLCertificate {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)
    }
}

/// A TLS server on a free loopback port presenting `pki`'s server certificate, for the duration of `body`.
func withTLSServer<T>(_ pki: TestPKI, _ body: (Int) async throws -> T) async throws -> T {
    let key = try NIOSSLPrivateKey(bytes: Array(pki.serverKey.derRepresentation), format: .der)
    let configuration = TLSConfiguration.makeServerConfiguration(
        certificateChain: [.certificate(try pki.nioCertificate(pki.serverCertificate))], privateKey: .privateKey(key))
    let context = try NIOSSLContext(configuration: configuration)
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context)) }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    do {
        let result = try await body(channel.localAddress!.port!)
        try await channel.close()
        return result
    } catch {
        try? await channel.close()
        throw error
    }
}
