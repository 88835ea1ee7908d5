import Foundation

/// A fresh directory under the system's temporary directory for the duration of `body`, removed after.
public func withTemporaryDirectory<T>(prefix: String = "mclouds-test", _ body: (URL) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}
