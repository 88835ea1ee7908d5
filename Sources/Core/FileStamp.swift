import Foundation

/// What tells a changed file from an unchanged one without reading it: modification time, size and inode (a
/// file replaced by a rename, as certbot and key rotation do, gets a new inode).
public enum FileStamp {
    /// The stamp of `paths` together (an absent file stamps as such).
    public static func of(_ paths: String...) -> String {
        paths.map { path in
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(modified):\(attributes?[.size] as? Int ?? -1):\((attributes?[.systemFileNumber] as? Int) ?? 0)"
        }.joined(separator: "|")
    }
}
