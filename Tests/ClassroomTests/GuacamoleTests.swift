import Core
import Crypto
import Foundation
import TestSupport
import Testing

@testable import Classroom

#if canImport(FoundationXML)
    import FoundationXML
#endif

@Suite("Apache Guacamole export")
struct GuacamoleTests {
    static let keyHex = "4c0b569e4c96df157eee1b65dd0e4d41"

    static func seat() -> SeatAccess {
        SeatAccess(service: .ssh, username: "student", address: "127.64.1.10", port: 20003, sealedPassword: "mcs1:…")
    }

    /// Guacamole's `guacamole-auth-json` checks, written again in Python with `cryptography`: decrypt
    /// (AES-128-CBC, zero IV, PKCS#7), verify the HMAC-SHA256 prefix, refuse expired data, and refuse a second use
    /// of single-use data by its signature (the extension's denylist). Reads `now_ms data` lines, prints a verdict each.
    static let verifier = """
        import sys, json, base64, hmac, hashlib
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives import padding
        key = bytes.fromhex(sys.argv[1])
        denylist = set()
        for line in sys.stdin:
            now, data = line.split()
            try:
                raw = base64.b64decode(data, validate=True)
                dec = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).decryptor()
                padded = dec.update(raw) + dec.finalize()
                unpad = padding.PKCS7(128).unpadder()
                plain = unpad.update(padded) + unpad.finalize()
            except Exception:
                print('rejected undecryptable'); continue
            sig, body = plain[:32], plain[32:]
            if not hmac.compare_digest(sig, hmac.new(key, body, hashlib.sha256).digest()):
                print('rejected signature'); continue
            doc = json.loads(body)
            expires = doc.get('expires')
            if expires is not None and int(now) > expires:
                print('rejected expired'); continue
            if doc.get('singleUse') and expires is not None:
                if sig in denylist:
                    print('rejected replayed'); continue
                denylist.add(sig)
            c = doc['connections']['EE-201 seat 4']
            p = c['parameters']
            print('ok', doc['username'], c['protocol'], p['hostname'], p['port'], p['username'], p['password'])
        """

    @Test(
        "the data decrypts and verifies with Guacamole's algorithm written independently; replayed or expired data is refused",
        .enabled(if: Tools.available("crypto-python")))
    func pythonVerifies() async throws {
        let python = try #require(Tools.path("crypto-python"), "scripts/test installs cryptography")
        let key = try GuacamoleJSON.key(hex: Self.keyHex)
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let connection = try #require(GuacamoleJSON.connection(name: "EE-201 seat 4", id: "b-1/0/3", access: Self.seat(), password: "pw&<\"x"))
        let payload = GuacamoleJSON.payload(username: "s001", connections: [connection], expires: now.addingTimeInterval(GuacamoleJSON.lifetime))
        let data = try GuacamoleJSON.seal(payload, key: key)
        let other = try GuacamoleJSON.seal(
            GuacamoleJSON.payload(username: "s001", connections: [connection], expires: now.addingTimeInterval(GuacamoleJSON.lifetime)),
            key: try GuacamoleJSON.key(hex: String(repeating: "ab", count: 16)))
        let ms = Int64(now.timeIntervalSince1970 * 1000)
        let input = [
            "\(ms) \(data)",  // first use: accepted
            "\(ms + 1000) \(data)",  // the same data again: refused
            "\(ms) \(other)",  // another key: refused
            "\(ms + 301_000) \(try GuacamoleJSON.seal(payload, key: key))",  // past `expires`: refused
        ].joined(separator: "\n")
        let result = try await runProgram(python, ["-c", Self.verifier, Self.keyHex], input: Data(input.utf8))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout.split(separator: "\n") == [
                "ok s001 ssh 127.64.1.10 20003 student pw&<\"x", "rejected replayed", "rejected undecryptable", "rejected expired",
            ], "\(result.stdout)")
    }

    @Test("the login URL carries the data percent-encoded; bad keys are refused")
    func loginURLAndKeys() throws {
        let url = GuacamoleJSON.loginURL(gateway: "https://gw.uni.example/guacamole", data: "ab+/c=")
        #expect(url == "https://gw.uni.example/guacamole/?data=ab%2B%2Fc%3D")
        #expect(throws: ClassroomError.self) { try GuacamoleJSON.key(hex: "abc") }
        #expect(throws: ClassroomError.self) { try GuacamoleJSON.key(hex: String(repeating: "z", count: 32)) }
        #expect(throws: ClassroomError.self) { try GuacamoleJSON.seal(Data(), key: SymmetricKey(size: .bits256)) }
    }

    @Test("user-mapping.xml: one authorize per student with a SHA-256 password and escaped connection parameters")
    func userMapping() throws {
        let connection = try #require(GuacamoleJSON.connection(name: "Lab <1>", id: "x", access: Self.seat(), password: "p\"w"))
        let xml = GuacamoleUserMapping.xml([.init(username: "s002", password: "secret", connections: [connection])])
        let hash = SHA256.hash(data: Array("secret".utf8)).map { String(format: "%02x", $0) }.joined()
        #expect(xml.contains("<authorize username=\"s002\" password=\"\(hash)\" encoding=\"sha256\">"))
        #expect(xml.contains("<connection name=\"Lab &lt;1&gt;\">") && xml.contains("<param name=\"password\">p&quot;w</param>"))
        #expect(!xml.contains("secret"))
        // Well-formed: Foundation's parser reads it through.
        #expect(XMLParser(data: Data(xml.utf8)).parse())
    }
}
