import CloudStack
import Foundation
import Testing

struct SigningVector: Decodable {
    let name: String
    let secret: String
    let params: [String: String]
    let string_to_sign: String
    let signature: String
}

func loadVectors() throws -> [SigningVector] {
    let url = try #require(Bundle.module.url(forResource: "Resources/signing-vectors", withExtension: "json"))
    return try JSONDecoder().decode([SigningVector].self, from: Data(contentsOf: url))
}

@Suite("Request signing as the management server verifies it")
struct RequestSignerTests {
    @Test("every reference vector gives the documented string to sign and signature")
    func vectors() throws {
        let vectors = try loadVectors()
        #expect(vectors.count >= 10)
        for v in vectors {
            #expect(RequestSigner.stringToSign(v.params) == v.string_to_sign, "\(v.name)")
            #expect(RequestSigner.signature(for: v.params, secretKey: v.secret) == v.signature, "\(v.name)")
            #expect(RequestSigner.isValid(signature: v.signature, for: v.params, secretKey: v.secret), "\(v.name)")
            #expect(!RequestSigner.isValid(signature: v.signature, for: v.params, secretKey: v.secret + "x"), "\(v.name)")
        }
    }

    @Test("values are encoded like Java's URLEncoder with + as %20")
    func javaEncoding() {
        #expect(RequestSigner.javaURLEncode("a b+c~d*e") == "a%20b%2Bc%7Ed*e")
        #expect(RequestSigner.javaURLEncode("zoné") == "zon%C3%A9")
        #expect(RequestSigner.javaURLEncode("A-Z_a.z09") == "A-Z_a.z09")
        #expect(RequestSigner.javaURLEncode("{SHA-256}/:,[]'!()") == "%7BSHA-256%7D%2F%3A%2C%5B%5D%27%21%28%29")
    }

    @Test("names sort by raw UTF-16 order, not lower-cased order")
    func rawNameOrder() {
        let params = ["templateId": "1", "templatefilter": "all"]
        #expect(RequestSigner.stringToSign(params) == "templateid=1&templatefilter=all")
        #expect(RequestSigner.stringToSign(params, sortLowercasedNames: true) == "templatefilter=all&templateid=1")
    }

    @Test("the signature parameter itself is never signed, whatever its case")
    func signatureExcluded() {
        let base = ["command": "listZones", "apiKey": "k"]
        var withSignature = base
        withSignature["Signature"] = "zzz"
        #expect(RequestSigner.stringToSign(base) == RequestSigner.stringToSign(withSignature))
    }
}

@Suite("CloudStack dates")
struct CloudStackDateFormatTests {
    @Test("formats UTC as yyyy-MM-dd'T'HH:mm:ss+0000")
    func format() {
        #expect(CloudStackDateFormat.string(from: Date(timeIntervalSince1970: 1_893_456_000)) == "2030-01-01T00:00:00+0000")
        #expect(CloudStackDateFormat.string(from: Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00+0000")
    }

    @Test("parses every form DateUtil accepts for expires, and rejects others")
    func parse() {
        let expected = Date(timeIntervalSince1970: 1_893_456_000)
        for text in [
            "2030-01-01T00:00:00+0000", "2030-01-01T00:00:00+00:00", "2030-01-01T00:00:00Z", "2030-01-01T01:00:00+0100",
            "2030-01-01T00:00:00.123456Z",
        ] {
            #expect(CloudStackDateFormat.date(from: text).map { abs($0.timeIntervalSince(expected)) < 1 } == true, "\(text)")
        }
        for text in ["2030-01-01", "tomorrow", "2030-13-01T00:00:00+0000", "2030-01-01T00:00:00+01"] {
            #expect(CloudStackDateFormat.date(from: text) == nil, "\(text)")
        }
    }

    @Test("round-trips through format and parse")
    func roundTrip() {
        for seconds in stride(from: 0.0, to: 4_000_000_000, by: 123_456_789) {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(CloudStackDateFormat.date(from: CloudStackDateFormat.string(from: date)) == date)
        }
    }
}
