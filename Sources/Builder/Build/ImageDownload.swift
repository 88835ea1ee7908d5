import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Downloads an extracted template to a file: resumes with `Range` after a broken connection, and accepts
/// the result only at exactly the size CloudStack reported.
public struct ImageDownload: Sendable {
    public var attempts: Int
    public var httpClient: HTTPClient

    public init(attempts: Int = 6, httpClient: HTTPClient = HTTPClients.shared) {
        self.attempts = attempts
        self.httpClient = httpClient
    }

    /// Fetches `url` into `path` (appending to what a previous attempt left there).
    /// - Parameters:
    ///   - expectedSize: the size CloudStack reports for the template (`physicalsize`).
    ///   - progress: called with the bytes on disk so far.
    /// - Throws: ``BuilderError`` `stepFailed(.download)` when the server keeps failing or the size differs.
    public func fetch(_ url: String, to path: String, expectedSize: Int64, logger: Logger, progress: @Sendable (Int64) -> Void) async throws {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        var lastProblem = "no attempt made"
        for attempt in 1...max(1, attempts) {
            let have = Int64((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
            if have == expectedSize { return }
            if have > expectedSize { try FileManager.default.removeItem(atPath: path) }
            do {
                try await fetchOnce(url, to: path, from: have > expectedSize ? 0 : have, expectedSize: expectedSize, progress: progress)
            } catch let error as BuilderError {
                throw error
            } catch {
                lastProblem = "\(error)"
                logger.info(
                    "image download broke off; resuming", metadata: ["attempt": .stringConvertible(attempt), "error": "\(error)"])
                try await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
        let have = Int64((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
        guard have == expectedSize else {
            throw BuilderError.stepFailed(
                .download, "the image at \(Self.redacted(url)) stopped at \(have) of \(expectedSize) bytes after \(attempts) attempts: \(lastProblem)"
            )
        }
    }

    private func fetchOnce(_ url: String, to path: String, from offset: Int64, expectedSize: Int64, progress: @Sendable (Int64) -> Void)
        async throws
    {
        var request = HTTPClientRequest(url: url)
        if offset > 0 { request.headers.add(name: "Range", value: "bytes=\(offset)-") }
        let response = try await httpClient.execute(request, timeout: .seconds(3600))
        var start = offset
        switch response.status {
        case .partialContent:
            let range = response.headers["Content-Range"].first ?? ""
            guard range.hasPrefix("bytes \(offset)-") else {
                throw BuilderError.stepFailed(
                    .download, "the server answered a range from \(offset) with \(range.isEmpty ? "no Content-Range" : range)")
            }
        case .ok:
            start = 0
        default:
            throw BuilderError.stepFailed(
                .download, "secondary storage answered \(response.status.code) for the extracted image \(Self.redacted(url)); try the build again")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(start))
        try handle.seek(toOffset: UInt64(start))
        var written = start
        for try await buffer in response.body {
            written += Int64(buffer.readableBytes)
            guard written <= expectedSize else {
                throw BuilderError.stepFailed(.download, "the image is larger than the \(expectedSize) bytes CloudStack reports")
            }
            try handle.write(contentsOf: Data(buffer.readableBytesView))
            progress(written)
        }
    }

    /// The URL without its path's token (the extract URL is a credential until it expires).
    static func redacted(_ url: String) -> String {
        guard let components = URLComponents(string: url) else { return "the extract URL" }
        return "\(components.scheme ?? "http")://\(components.host ?? "")\(components.port.map { ":\($0)" } ?? "")/…"
    }
}
