import AsyncHTTPClient
import Core
import Federation
import Foundation
import NIOCore
import NIOHTTP1
import Server
import Synchronization
import TestSupport
import Testing

/// HTTPS as operators run it: a certificate from the alliance's CA, TLS 1.2+ with strong ciphers only, a plain
/// HTTP port that redirects, and a renewed certificate picked up without dropping a connection.
@Suite("TLS: HTTPS, redirect, reload", .enabled(if: Tools.available("openssl")))
struct TLSTests {
    /// `openssl s_client` on one connection: requests written to it, answers read back.
    final class Connection: @unchecked Sendable {
        let process = Process()
        let input = Pipe()
        let output = Pipe()
        var received = ""

        init(port: Int, ca: String, extra: [String] = []) throws {
            process.executableURL = URL(fileURLWithPath: Tools.path("openssl") ?? "/usr/bin/openssl")
            process.arguments = ["s_client", "-quiet", "-verify_return_error", "-CAfile", ca, "-connect", "127.0.0.1:\(port)"] + extra
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        /// Sends a keep-alive GET and waits (at most 10 s) for its whole answer; the status line.
        func get(_ path: String) async -> String? {
            input.fileHandleForWriting.write(Data("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            let deadline = ContinuousClock.now + .seconds(10)
            received = ""
            let handle = output.fileHandleForReading
            while ContinuousClock.now < deadline {
                let chunk = await Task.detached { handle.availableData }.value
                if chunk.isEmpty { return nil }  // the connection closed
                received += String(decoding: chunk, as: UTF8.self)
                if let head = received.range(of: "\r\n\r\n"), received[head.upperBound...].contains("}") {
                    return received.split(separator: "\r\n").first.map(String.init)
                }
            }
            return nil
        }

        func close() {
            try? input.fileHandleForWriting.close()
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Whether a handshake with these `openssl s_client` options succeeds against the server.
    static func handshake(port: Int, ca: String, _ options: [String]) async throws -> Bool {
        let result = try await runProgram(
            Tools.path("openssl") ?? "/usr/bin/openssl",
            ["s_client", "-brief", "-verify_return_error", "-CAfile", ca, "-connect", "127.0.0.1:\(port)"] + options)
        return result.status == 0
    }

    /// The common name of the certificate the server presents to a new connection.
    static func presented(port: Int, ca: String) async throws -> String {
        let result = try await runProgram(
            Tools.path("openssl") ?? "/usr/bin/openssl", ["s_client", "-verify_return_error", "-CAfile", ca, "-connect", "127.0.0.1:\(port)"])
        let line = result.stdout.split(separator: "\n").first { $0.contains("subject=") } ?? ""
        return line.components(separatedBy: "CN = ").last ?? String(line)
    }

    @Test("HTTPS from PEM files: a client trusting the CA gets in, one without it does not; TLS 1.0/1.1 and weak ciphers are refused; HTTP redirects")
    func https() async throws {
        try await withTemporaryDirectory { directory in
            let pki = try TestPKI(name: "alliance", in: directory)
            let (certificate, key) = try pki.issue(commonName: "mclouds-one")
            let identity = try TLSIdentity(certificate: certificate, key: key)
            #expect(identity.summary.contains("mclouds-one"))
            try await withServer(tls: identity, redirectHTTPPort: 0) { server, _, _ in
                let port = await server.waitUntilRunning()
                #expect(server.baseURL.hasPrefix("https://"))
                let trusting = try HTTPClients.trusting(caBundle: pki.caFile)
                let health = try await trusting.execute(.init(url: server.baseURL + "/healthz"), timeout: .seconds(60))
                #expect(health.status == .ok)
                let document = try await trusting.execute(.init(url: server.baseURL + "/openapi.yaml"), timeout: .seconds(60)).body.collect(
                    upTo: 1 << 20)
                #expect(String(buffer: document).contains("url: https://127.0.0.1:\(port)"))
                // The system's roots do not know the alliance's CA.
                await #expect(throws: (any Error).self) {
                    try await HTTPClients.shared.execute(.init(url: server.baseURL + "/healthz"), timeout: .seconds(60))
                }

                #expect(try await Self.handshake(port: port, ca: pki.caFile, ["-tls1_2"]))
                #expect(try await Self.handshake(port: port, ca: pki.caFile, ["-tls1_3"]))
                #expect(try await !Self.handshake(port: port, ca: pki.caFile, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]))
                #expect(try await !Self.handshake(port: port, ca: pki.caFile, ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"]))
                for weak in ["AES128-SHA", "AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "DES-CBC3-SHA"] {
                    #expect(try await !Self.handshake(port: port, ca: pki.caFile, ["-tls1_2", "-cipher", "\(weak)@SECLEVEL=0"]), "\(weak)")
                }

                // Plain HTTP on the redirect port: 308 to the same path and query over HTTPS.
                let redirectPort = await server.waitUntilRedirecting()
                let redirect = try await http(.GET, "http://127.0.0.1:\(redirectPort)/api/v1/catalog?since=3")
                #expect(redirect.status == 308 && redirect.headers.first(name: "Location") == "https://127.0.0.1:\(port)/api/v1/catalog?since=3")
                let posted = try await http(.POST, "http://127.0.0.1:\(redirectPort)/login", body: Array("x=1".utf8))
                #expect(posted.status == 308 && posted.headers.first(name: "Location") == "https://127.0.0.1:\(port)/login")
            }
        }
    }

    @Test("a renewed certificate reaches new connections at reload while an open connection goes on; a broken renewal keeps the old one")
    func reload() async throws {
        try await withTemporaryDirectory { directory in
            let first = try TestPKI(name: "first", in: directory)
            let (certificate, key) = try first.issue(commonName: "before-renewal")
            let identity = try TLSIdentity(certificate: certificate, key: key)
            try await withServer(tls: identity) { server, _, _ in
                let port = await server.waitUntilRunning()
                let open = try Connection(port: port, ca: first.caFile)
                defer { open.close() }
                #expect(await open.get("/healthz") == "HTTP/1.1 200 OK")

                // Renewed by a new CA, in place (as certbot does); reloaded.
                let second = try TestPKI(name: "second", in: directory)
                _ = try second.issue(commonName: "after-renewal", certificate: certificate, key: key)
                #expect(try identity.reload().contains("after-renewal"))
                #expect(try await Self.presented(port: port, ca: second.caFile) == "after-renewal")
                // The connection opened before the reload still answers.
                #expect(await open.get("/healthz") == "HTTP/1.1 200 OK")

                // A renewal that does not load (the key of another certificate): refused, the last good one serves on.
                let stray = try second.issue(commonName: "stray")
                try FileManager.default.removeItem(atPath: key)
                try FileManager.default.copyItem(atPath: stray.key, toPath: key)
                #expect(throws: APIError.self) { try identity.reload() }
                #expect(try await Self.presented(port: port, ca: second.caFile) == "after-renewal")
            }
        }
    }

    @Test("mclouds server --tls-certificate/--tls-key: HTTPS, and SIGHUP (certbot's deploy hook) loads the renewed certificate")
    func sighup() async throws {
        try await withTemporaryDirectory { directory in
            let pki = try TestPKI(name: "alliance", in: directory)
            let (certificate, key) = try pki.issue(commonName: "first-issue")
            let server = try await ServerProcess.start(
                [
                    "server", "--data", directory.appendingPathComponent("data").path, "--port", "0", "--scrub-interval-hours", "0",
                    "--tls-certificate", certificate, "--tls-key", key,
                ], in: directory)
            defer { Task { await server.stop() } }
            #expect(server.baseURL.hasPrefix("https://127.0.0.1:"))
            let port = Int(server.baseURL.split(separator: ":").last!)!
            #expect(try await Self.presented(port: port, ca: pki.caFile) == "first-issue")
            _ = try pki.issue(commonName: "renewed", certificate: certificate, key: key)
            kill(server.pid, SIGHUP)
            var seen = ""
            for _ in 0..<50 where seen != "renewed" {
                try await Task.sleep(for: .milliseconds(100))
                seen = try await Self.presented(port: port, ca: pki.caFile)
            }
            #expect(seen == "renewed")
            #expect(server.stderr.contains("TLS certificate reloaded") || server.stdout.contains("TLS certificate reloaded"))
        }
    }

    @Test("a region's API certificate is verified unless the region says verifyTLS false, which is logged at every use")
    func regionVerification() async throws {
        try await withTemporaryDirectory { directory in
            let pki = try TestPKI(name: "partner-private", in: directory)
            let (certificate, key) = try pki.issue(commonName: "cloud.partner")
            try await withServer(tls: try TLSIdentity(certificate: certificate, key: key)) { server, _, _ in
                let captured = CapturedLog()
                let logger = captured.logger(label: "test.tls")
                var region = FederationRegion(id: 9, name: "MECA-Test", endpoint: server.baseURL + "/client/api", apiKey: "K")
                let verifying = try region.apiHTTPClient(logger: logger)
                await #expect(throws: (any Error).self) {
                    try await verifying.execute(.init(url: server.baseURL + "/healthz"), timeout: .seconds(60))
                }
                #expect(captured.lines.withLock { $0.isEmpty })
                // The partner's CA bundle makes it verifiable.
                let bundled = try region.apiHTTPClient(caBundle: pki.caFile, logger: logger)
                #expect(try await bundled.execute(.init(url: server.baseURL + "/healthz"), timeout: .seconds(60)).status == .ok)
                region.verifyTLS = false
                let unverified = try region.apiHTTPClient(logger: logger)
                #expect(try await unverified.execute(.init(url: server.baseURL + "/healthz"), timeout: .seconds(60)).status == .ok)
                #expect(captured.lines.withLock { $0.contains { $0.contains("certificate verification is off") && $0.contains("MECA-Test") } })
            }
        }
    }

    @Test("testssl.sh finds no old protocol and no weak cipher", .enabled(if: Tools.available("testssl")))
    func testssl() async throws {
        try await withTemporaryDirectory { directory in
            let pki = try TestPKI(name: "alliance", in: directory)
            let (certificate, key) = try pki.issue(commonName: "mclouds")
            try await withServer(tls: try TLSIdentity(certificate: certificate, key: key)) { server, _, _ in
                let port = await server.waitUntilRunning()
                let report = directory.appendingPathComponent("testssl.json").path
                let result = try await runProgram(
                    Tools.path("testssl") ?? "testssl",
                    // No DNS lookups (nothing but loopback is contacted).
                    [
                        "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none", "--protocols", "--std", "--jsonfile", report,
                        "127.0.0.1:\(port)",
                    ])
                let findings = try JSONDecoder().decode([[String: String]].self, from: Data(contentsOf: URL(fileURLWithPath: report)))
                func finding(_ id: String) -> String { findings.first { $0["id"] == id }?["finding"] ?? "absent (\(result.stdout.suffix(400)))" }
                for old in ["SSLv2", "SSLv3", "TLS1", "TLS1_1"] { #expect(finding(old).hasPrefix("not offered"), "\(old): \(finding(old))") }
                #expect(finding("TLS1_2").hasPrefix("offered"), "\(finding("TLS1_2"))")
                #expect(finding("TLS1_3").hasPrefix("offered"), "\(finding("TLS1_3"))")
                for weak in [
                    "cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE",
                ] {
                    #expect(finding(weak).hasPrefix("not offered"), "\(weak): \(finding(weak))")
                }
                #expect(finding("cipherlist_STRONG").hasPrefix("offered"), "\(finding("cipherlist_STRONG"))")
            }
        }
    }
}
