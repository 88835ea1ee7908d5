import Core
import Crypto
import Foundation

/// Computes the digest a CloudStack checksum names: `{MD5}`, `{SHA-1}`, `{SHA-256}`, `{SHA-384}`, `{SHA-512}`,
/// or a bare value (MD5), while the bytes stream past.
struct ChecksumVerifier {
    private enum State {
        case md5(Insecure.MD5)
        case sha1(Insecure.SHA1)
        case sha256(SHA256)
        case sha384(SHA384)
        case sha512(SHA512)
    }

    private var state: State
    /// The expected hex digest, lower-cased.
    let expected: String

    /// A verifier for `checksum`; `nil` when no checksum was given.
    init?(checksum: String?) {
        guard let checksum, !checksum.isEmpty else { return nil }
        var algorithm = "MD5"
        var value = checksum
        if checksum.hasPrefix("{"), let close = checksum.firstIndex(of: "}") {
            algorithm = String(checksum[checksum.index(after: checksum.startIndex)..<close])
            value = String(checksum[checksum.index(after: close)...])
        }
        switch algorithm {
        case "MD5": state = .md5(Insecure.MD5())
        case "SHA-1": state = .sha1(Insecure.SHA1())
        case "SHA-256": state = .sha256(SHA256())
        case "SHA-384": state = .sha384(SHA384())
        case "SHA-512": state = .sha512(SHA512())
        default: return nil
        }
        expected = value.lowercased()
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .md5(var h):
            h.update(bufferPointer: bytes)
            state = .md5(h)
        case .sha1(var h):
            h.update(bufferPointer: bytes)
            state = .sha1(h)
        case .sha256(var h):
            h.update(bufferPointer: bytes)
            state = .sha256(h)
        case .sha384(var h):
            h.update(bufferPointer: bytes)
            state = .sha384(h)
        case .sha512(var h):
            h.update(bufferPointer: bytes)
            state = .sha512(h)
        }
    }

    /// The hex digest of everything seen.
    func finalize() -> String {
        let bytes: [UInt8]
        switch state {
        case .md5(let h): bytes = Array(h.finalize())
        case .sha1(let h): bytes = Array(h.finalize())
        case .sha256(let h): bytes = Array(h.finalize())
        case .sha384(let h): bytes = Array(h.finalize())
        case .sha512(let h): bytes = Array(h.finalize())
        }
        return bytes.hexString
    }
}
