import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

extension Simulator {
    /// How many template downloads run at once (CloudStack's SSVM runs a few in parallel).
    static let parallelDownloads = 4

    /// Consumes download requests until the stream ends or the task is cancelled.
    func runDownloads() async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for await request in downloadStream {
                if running >= Self.parallelDownloads {
                    await group.next()
                    running -= 1
                }
                group.addTask { await self.download(request) }
                running += 1
            }
        }
    }

    var downloadStream: AsyncStream<DownloadRequest> { _downloadStream }

    /// Downloads one template URL like secondary storage does: streams it to disk, reports percent,
    /// verifies the checksum, then marks the template ready or failed with CloudStack's wording.
    func download(_ request: DownloadRequest) async {
        var logger = logger
        logger[metadataKey: "template.id"] = "\(request.templateID)"
        logger[metadataKey: "template.url"] = "\(request.url)"
        let directory = storageDirectory.appendingPathComponent("template/tmpl/\(request.templateID)")
        let final = directory.appendingPathComponent("\(request.templateID).\(request.format.lowercased())")
        let partial = final.appendingPathExtension("part")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let (size, virtualSize) = try await fetch(request, to: partial, logger: logger)
            try? FileManager.default.removeItem(at: final)
            try FileManager.default.moveItem(at: partial, to: final)
            store.withLock { $0.finishDownload(templateID: request.templateID, size: virtualSize ?? size, physicalSize: size, path: final.path) }
            logger.info("Template downloaded", metadata: ["template.bytes": .stringConvertible(size)])
        } catch is CancellationError {
            try? FileManager.default.removeItem(at: partial)
        } catch {
            try? FileManager.default.removeItem(at: partial)
            let text = (error as? DownloadFailure)?.text ?? "Failed to download template: \(error)"
            store.withLock { $0.failDownload(templateID: request.templateID, errorText: text) }
            logger.warning("Template download failed", metadata: ["error": "\(text)"])
        }
        markDirty()
    }

    struct DownloadFailure: Error {
        var text: String
    }

    /// Streams the URL into `file`, hashing as it goes. Returns the byte count and, for QCOW2, the virtual size.
    private func fetch(_ request: DownloadRequest, to file: URL, logger: Logger) async throws -> (Int64, Int64?) {
        var httpRequest = HTTPClientRequest(url: request.url)
        httpRequest.method = .GET
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(httpRequest, timeout: .hours(6))
        } catch {
            throw DownloadFailure(text: "Failed to download template: unable to connect to \(request.url) (\(error))")
        }
        guard response.status.code == 200 else {
            throw DownloadFailure(text: "Failed to download template: HTTP Server returned \(response.status.code) (expected 200 OK)")
        }
        let expectedLength = response.headers.first(name: "Content-Length").flatMap { Int64($0) }
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        var verifier = ChecksumVerifier(checksum: request.checksum)
        var received: Int64 = 0
        var lastPercent = -1
        var header = [UInt8]()
        let started = ContinuousClock.now
        for try await chunk in response.body {
            try Task.checkCancellation()
            let faults = currentFaults
            if faults.failDownloads, received > 0 || chunk.readableBytes > 0 {
                throw DownloadFailure(text: "Failed to download template: connection to \(request.url) was reset after \(received) bytes")
            }
            chunk.withUnsafeReadableBytes { bytes in
                verifier?.update(bytes)
                if header.count < 32 { header.append(contentsOf: bytes.prefix(32 - header.count)) }
            }
            try handle.write(contentsOf: Data(buffer: chunk))
            received += Int64(chunk.readableBytes)
            if let expectedLength, expectedLength > 0 {
                let percent = Int(min(99, received * 100 / expectedLength))
                if percent != lastPercent {
                    lastPercent = percent
                    store.withLock { $0.updateDownload(templateID: request.templateID, percent: percent) }
                }
            }
            if faults.downloadBytesPerSecond > 0 {
                let due = Duration.seconds(Double(received) / Double(faults.downloadBytesPerSecond))
                let elapsed = ContinuousClock.now - started
                if due > elapsed { try await Task.sleep(for: due - elapsed) }
            }
        }
        if let expectedLength, received != expectedLength {
            throw DownloadFailure(text: "Failed to download template: received \(received) of \(expectedLength) bytes from \(request.url)")
        }
        store.withLock { $0.updateDownload(templateID: request.templateID, percent: 100) }
        if let verifier {
            let actual = verifier.finalize()
            guard actual == verifier.expected else {
                throw DownloadFailure(text: "checksum \"\(actual)\" didn't match the given value, \"\(verifier.expected)\"")
            }
        }
        return (received, Self.qcow2VirtualSize(header: header, format: request.format))
    }

    /// The virtual disk size in a QCOW2 header (magic `QFI\u{fb}`, big-endian size at offset 24).
    static func qcow2VirtualSize(header: [UInt8], format: String) -> Int64? {
        guard format == "QCOW2", header.count >= 32, header[0] == 0x51, header[1] == 0x46, header[2] == 0x49, header[3] == 0xFB else { return nil }
        var size: UInt64 = 0
        for i in 24..<32 { size = size << 8 | UInt64(header[i]) }
        return Int64(clamping: size)
    }
}
