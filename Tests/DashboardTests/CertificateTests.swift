import Dashboard
import Federation
import Foundation
import NIOSSL
import Testing

@Suite("Region health: TLS certificates")
struct CertificateTests {
    @Test("a real TLS endpoint's certificate: subject, issuer and days to expiry; trusted with the test CA, not without it")
    func inspect() async throws {
        let pki = try TestPKI(validFor: 10)
        try await withTLSServer(pki) { port in
            let trusting = TLSInspector(additionalRoots: [try pki.nioCertificate(pki.caCertificate)], timeout: .seconds(30))
            let info = try await trusting.inspect(host: "127.0.0.1", port: port)
            #expect(info.subject.contains("CN=localhost") && info.issuer.contains("CN=mClouds Test CA"))
            #expect(info.daysLeft == 9 || info.daysLeft == 10)
            #expect(info.trusted, "\(info.trustError ?? "")")

            let stranger = try await TLSInspector(timeout: .seconds(30)).inspect(host: "127.0.0.1", port: port)
            #expect(!stranger.trusted && stranger.trustError != nil)
        }
    }

    @Test("an expired certificate counts negative days")
    func expired() async throws {
        let pki = try TestPKI(validFor: -2, notBefore: Date().addingTimeInterval(-30 * 86_400))
        try await withTLSServer(pki) { port in
            let info = try await TLSInspector(additionalRoots: [try pki.nioCertificate(pki.caCertificate)], timeout: .seconds(30)).inspect(
                host: "127.0.0.1", port: port)
            #expect(info.daysLeft < 0 && !info.trusted)
        }
    }

    @Test("the collector's health for an HTTPS region: a certificate expiring within 30 days is reported; an unanswered API is an error")
    func healthLevels() async throws {
        let pki = try TestPKI(validFor: 10)
        try await withTLSServer(pki) { port in
            try await withDashboardStores { registry, store in
                try await registry.add(
                    FederationRegion(id: 9, name: "TLS-Only", endpoint: "https://127.0.0.1:\(port)/client/api", apiKey: "K"), secretKey: "S")
                var configuration = DashboardCollector.Configuration()
                configuration.regionTimeout = .seconds(3)
                configuration.tls = TLSInspector(additionalRoots: [try pki.nioCertificate(pki.caCertificate)], timeout: .seconds(30))
                let collector = DashboardCollector(registry: registry, store: store, configuration: configuration, logger: quietLogger)
                try await collector.collectNow()
                let health = try #require(try await collector.summary().regions.first?.health)
                #expect(health.certificate?.trusted == true && health.certificate?.daysLeft ?? 99 < 30)
                #expect(health.problems.contains { $0.contains("expires in") })
                #expect(health.level == .error && health.problems.contains { $0.contains("collection failed") })
            }
        }
    }
}
