/// The smallest valid QCOW2 version 3 header (104 bytes): what ``ImageInspector`` checks, and what the demo's and
/// tests' generated sample images start with so that they are QCOW2 images as CloudStack and the inspector see them.
public enum QCOW2Header {
    /// A header for a disk of `virtualSize` bytes with 64 KiB clusters.
    public static func bytes(virtualSize: UInt64 = 20 << 30) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 104)
        header[0...3] = [0x51, 0x46, 0x49, 0xFB]  // "QFI\xfb"
        header[7] = 3  // version 3
        header[23] = 16  // cluster bits: 64 KiB clusters
        for i in 0..<8 { header[24 + i] = UInt8(truncatingIfNeeded: virtualSize >> (56 - 8 * UInt64(i))) }
        header[103] = 104  // header length
        return header
    }

    /// `image` with its first bytes replaced by a header (images shorter than a header are returned as they are).
    public static func stamped(_ image: [UInt8], virtualSize: UInt64 = 20 << 30) -> [UInt8] {
        let header = bytes(virtualSize: virtualSize)
        guard image.count >= header.count else { return image }
        var image = image
        image.replaceSubrange(0..<header.count, with: header)
        return image
    }
}
