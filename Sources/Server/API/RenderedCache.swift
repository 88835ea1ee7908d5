import Core
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Answers rendered once per state of what they show (the dashboard page, its JSON, the history), served with a
/// strong `ETag`; a request whose `If-None-Match` names it gets `304 Not Modified` and no body.
///
/// Each answer is kept under a name (`page`, `summary`, `history-24`) with the key of the state it was drawn from;
/// a request with another key renders anew (one renderer at a time per name, so a burst renders once).
final class RenderedCache: Sendable {
    private struct Entry {
        var key: String
        var etag: String
        /// Shared by every answer (a `ByteBuffer` is copied on write only): no copy per request.
        var body: ByteBuffer
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let renderers = Mutex<[String: Task<Entry, any Error>]>([:])
    /// Names kept at most (history windows are chosen by callers).
    let capacity: Int

    init(capacity: Int = 32) { self.capacity = capacity }

    /// The answer for `name` at state `key`, rendered by `render` when not kept for that key.
    func respond(
        _ request: Request, name: String, key: String, contentType: String, render: @escaping @Sendable () async throws -> [UInt8]
    ) async throws -> Response {
        let entry = try await entry(name: name, key: key, render: render)
        var headers: HTTPFields = [.contentType: contentType, .eTag: entry.etag, .cacheControl: "no-cache"]
        if let match = request.headers[.ifNoneMatch],
            match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == entry.etag })
        {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(entry.body.readableBytes)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: entry.body))
    }

    private func entry(name: String, key: String, render: @escaping @Sendable () async throws -> [UInt8]) async throws -> Entry {
        if let kept = entries.withLock({ $0[name] }), kept.key == key { return kept }
        let task = renderers.withLock { running -> Task<Entry, any Error> in
            if let task = running[name] { return task }
            let task = Task<Entry, any Error> {
                let body = try await render()
                let etag = "\"" + SHA256.hash(data: body).prefix(12).hexString + "\""
                return Entry(key: key, etag: etag, body: ByteBuffer(bytes: body))
            }
            running[name] = task
            return task
        }
        defer { renderers.withLock { if $0[name] == task { $0[name] = nil } } }
        let entry = try await task.value
        entries.withLock { kept in
            if kept.count >= capacity, kept[name] == nil { kept.removeAll() }
            kept[name] = entry
        }
        // A renderer started for an older key: render again for this one.
        return entry.key == key ? entry : try await self.entry(name: name, key: key, render: render)
    }
}
