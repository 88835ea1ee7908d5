import AsyncHTTPClient
import Core
import Foundation
import NIOCore
import NIOHTTP1
import Server
import ServiceLifecycle
import TestSupport
import Testing

@Suite("Agent image endpoint")
struct ImageServerTests {
    func get(_ url: String, range: String? = nil) async throws -> (status: Int, body: [UInt8], contentRange: String?) {
        var request = HTTPClientRequest(url: url)
        if let range { request.headers.add(name: "Range", value: range) }
        let response = try await HTTPClients.shared.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), Array(body.readableBytesView), response.headers["Content-Range"].first)
    }

    func withImageServer<T: Sendable>(allowed: [String], _ body: (ImageServer) async throws -> T) async throws -> T {
        try await withTemporaryDirectory { directory in
            try Data([UInt8](0..<200)).write(to: directory.appendingPathComponent("ubuntu-1.qcow2"))
            try Data([1]).write(to: directory.appendingPathComponent("ubuntu-2.qcow2.partial"))
            try Data([1]).write(to: directory.appendingPathComponent("ubuntu-1.qcow2.manifest"))
            try Data([1]).write(to: directory.appendingPathComponent("ubuntu-0.qcow2.trimmed"))
            let server = ImageServer(configuration: .init(directory: directory.path, allowedAddresses: allowed), logger: quietLogger)
            return try await ServiceScope.withRunning([server], logger: quietLogger, ready: { _ = await server.waitUntilRunning() }) {
                try await body(server)
            }
        }
    }

    @Test("serves images whole or by range to allowed addresses; refuses others, partial and trimmed images, manifests and unknown names")
    func serving() async throws {
        try await withImageServer(allowed: []) { server in
            let whole = try await get(server.url(for: "ubuntu-1.qcow2"))
            #expect(whole.status == 200 && whole.body == [UInt8](0..<200))
            let part = try await get(server.url(for: "ubuntu-1.qcow2"), range: "bytes=10-19")
            #expect(part.status == 206 && part.body == [UInt8](10..<20) && part.contentRange == "bytes 10-19/200")
            #expect(try await get(server.url(for: "ubuntu-1.qcow2"), range: "bytes=500-").status == 416)
            #expect(try await get(server.url(for: "ubuntu-2.qcow2.partial")).status == 400)
            #expect(try await get(server.url(for: "ubuntu-1.qcow2.manifest")).status == 400)
            #expect(try await get(server.url(for: "ubuntu-0.qcow2.trimmed")).status == 400)
            #expect(try await get(server.url(for: "nothing.qcow2")).status == 404)
        }
        try await withImageServer(allowed: ["10.9.9.9"]) { server in
            let refused = try await get(server.url(for: "ubuntu-1.qcow2"))
            #expect(refused.status == 403 && String(decoding: refused.body, as: UTF8.self).contains("allowed addresses"))
        }
    }
}
