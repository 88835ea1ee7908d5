import Core
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Publishes an image to a remote repository: chunks it locally the way the repository does (it says how),
/// asks which chunks it lacks, uploads only those (several at a time), then commits. A commit that finds
/// chunks gone (collected meanwhile) uploads them and commits again.
public struct RemotePublisher: Sendable {
    public let client: RepositoryClient
    public var parallelUploads: Int

    public init(client: RepositoryClient, parallelUploads: Int = 4) {
        self.client = client
        self.parallelUploads = parallelUploads
    }

    /// Progress of a remote publish.
    public enum Phase: Sendable {
        case chunking(done: Int64)
        case uploading(done: Int64, total: Int64)
    }

    /// - Throws: ``TemplateRepositoryError`` for a bad file or metadata, ``RepositoryClientError`` for
    ///   what the server refused.
    public func publish(imageAt path: String, metadata: TemplateMetadata, progress: (@Sendable (Phase) -> Void)? = nil) async throws
        -> PublishReport
    {
        try metadata.validate()
        let chunker = ImageChunker(parameters: try await client.info().chunking)
        let image = try await offloaded {
            try chunker.chunk(path: path) { reference, _ in progress?(.chunking(done: reference.offset + Int64(reference.length))) }
        }
        var missing: [String] = []
        let page = MissingChunksRequest.pageLimit
        for batch in stride(from: 0, to: image.chunks.count, by: page) {
            missing += try await client.missing(image.chunks[batch..<min(image.chunks.count, batch + page)].map(\.digest))
        }
        var uploaded = (chunks: 0, bytes: Int64(0))
        for attempt in 1...3 {
            let sent = try await upload(missing, of: image, from: path, progress: progress)
            uploaded.chunks += sent.chunks
            uploaded.bytes += sent.bytes
            do {
                var report = try await client.commit(CommitRequest(metadata: metadata, image: image))
                report.newChunks = uploaded.chunks
                report.newBytes = uploaded.bytes
                return report
            } catch let error as RepositoryClientError where error.status == 409 && !error.missing.isEmpty && attempt < 3 {
                missing = error.missing
            }
        }
        throw RepositoryClientError(url: client.baseURL, status: nil, message: "the commit kept finding chunks missing; retry the publish")
    }

    private func upload(_ digests: [String], of image: ChunkedImage, from path: String, progress: (@Sendable (Phase) -> Void)?) async throws
        -> (chunks: Int, bytes: Int64)
    {
        let wanted = Set(digests)
        var seen = Set<String>()
        let work = image.chunks.filter { wanted.contains($0.digest) && seen.insert($0.digest).inserted }
        let total = work.reduce(Int64(0)) { $0 + Int64($1.length) }
        let file = try ImageFile(path: path)
        let client = client
        return try await withThrowingTaskGroup(of: (Bool, Int64).self) { group in
            var next = 0
            var done = (chunks: 0, bytes: Int64(0))
            var sent: Int64 = 0
            func start() {
                guard next < work.count else { return }
                let chunk = work[next]
                next += 1
                group.addTask {
                    let bytes = try file.read(offset: chunk.offset, length: chunk.length)
                    return (try await client.upload(chunk.digest, bytes: bytes), Int64(chunk.length))
                }
            }
            for _ in 0..<max(1, parallelUploads) { start() }
            while let (stored, length) = try await group.next() {
                sent += length
                if stored {
                    done.chunks += 1
                    done.bytes += length
                }
                progress?(.uploading(done: sent, total: total))
                start()
            }
            return done
        }
    }
}

/// An image file open for positioned reads from several tasks.
final class ImageFile: Sendable {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TemplateRepositoryError.unreadableImage(path: path, reason: String(cString: strerror(errno))) }
    }

    deinit { close(fd) }

    func read(offset: Int64, length: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, length - done, off_t(offset) + off_t(done)) }
            guard n > 0 else {
                throw TemplateRepositoryError.unreadableImage(
                    path: path, reason: n == 0 ? "it shrank while publishing" : String(cString: strerror(errno)))
            }
            done += n
        }
        return bytes
    }
}
