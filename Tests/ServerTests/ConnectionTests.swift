import Foundation
import Server
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection to a loopback port, for what HTTP clients would not send.
final class RawConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    deinit { close(fd) }

    func send(_ text: String) { _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }

    /// Everything the server sends until it closes the connection, or `nil` if it has not closed it within
    /// `seconds`. Polls without blocking, so that the in-process server's tasks keep running meanwhile.
    func readUntilClosed(seconds: Int) async -> String? {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n == 0 { return String(decoding: received, as: UTF8.self) }
            if n > 0 {
                received += buffer[..<n]
                continue
            }
            guard errno == EAGAIN || errno == EWOULDBLOCK else { return String(decoding: received, as: UTF8.self) }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }
}

@Suite("Server connections: unusual requests and idle clients")
struct ConnectionTests {
    func port(_ server: MCloudsServer) -> Int { Int(server.baseURL.split(separator: ":").last!)! }

    @Test("CONNECT gets a complete 405 and a closed connection (no proxying, nothing left hanging)")
    func connectRefused() async throws {
        try await withServer { server, _, _ in
            let connection = try RawConnection(port: port(server))
            connection.send("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n")
            let answer = try #require(await connection.readUntilClosed(seconds: 10), "the connection was left open")
            #expect(answer.hasPrefix("HTTP/1.1 405"))
            // Other methods the router does not know get a complete JSON 405 on a connection that stays usable.
            let other = try RawConnection(port: port(server))
            other.send("PROPFIND /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let both = try #require(await other.readUntilClosed(seconds: 10))
            #expect(both.hasPrefix("HTTP/1.1 405") && both.contains("HTTP/1.1 200 OK"))
        }
    }

    @Test("idle and half-open connections are closed after the idle timeout, and the server keeps answering")
    func idleConnectionsClosed() async throws {
        try await withServer(idleTimeout: .seconds(1)) { server, _, _ in
            let idle = try (0..<200).map { _ in try RawConnection(port: port(server)) }
            let halfOpen = try RawConnection(port: port(server))
            halfOpen.send("GET /heal")
            let served = try RawConnection(port: port(server))
            served.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await halfOpen.readUntilClosed(seconds: 10) == "")
            #expect(await served.readUntilClosed(seconds: 10)?.contains("200 OK") == true, "a kept-alive connection closes once idle")
            for connection in idle { #expect(await connection.readUntilClosed(seconds: 10) == "") }
            let after = try RawConnection(port: port(server))
            after.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(await after.readUntilClosed(seconds: 10)?.contains("200 OK") == true)
        }
    }
}
