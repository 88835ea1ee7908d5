extension Sequence where Element == UInt8 {
    /// The bytes as lower-case hex (digests in manifests, checksums, key ids).
    public var hexString: String {
        var out = [UInt8]()
        let digits = Array("0123456789abcdef".utf8)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
