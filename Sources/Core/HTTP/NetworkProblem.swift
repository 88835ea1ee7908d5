import AsyncHTTPClient
import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A transport failure in words a user can act on ("connection refused: nothing listens at 127.0.0.1:9"),
/// never a library's internals (`HTTPClientError.invalidURL`, `(errno: 111)`).
public enum NetworkProblem {
    /// What went wrong, without type names or errno values.
    public static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            if [.invalidURL, .emptyHost, .emptyScheme].contains(error) || String(describing: error).contains("unsupportedScheme") {
                return "it is not an http(s) URL such as http://host:8080"
            }
            if error == .connectTimeout { return "the connection timed out (is the host up, and the port open?)" }
            if error == .readTimeout || error == .deadlineExceeded { return "no answer in time" }
            if error == .remoteConnectionClosed { return "the server closed the connection" }
            if error == .cancelled { return "the request was cancelled" }
        }
        if let error = error as? IOError { return describe(errno: error.errnoCode) }
        let text = String(describing: error)
        if let range = text.range(of: "errno: "), let code = Int32(text[range.upperBound...].prefix { $0.isNumber }) {
            return describe(errno: code)
        }
        if text.contains("UnknownHost") || text.contains("DNS error") { return "unknown host: its name does not resolve (check the URL)" }
        if text.contains("NIOConnectionError") || text.contains("connectFailed") {
            return "the connection failed (unknown host, or nothing listens there)"
        }
        if text.contains("NIOSSL") || text.contains("handshakeFailed") { return "the TLS handshake failed (is its certificate trusted?)" }
        return text
    }

    static func describe(errno code: Int32) -> String {
        switch code {
        case ECONNREFUSED: "connection refused: nothing listens there"
        case ETIMEDOUT: "the connection timed out"
        case EHOSTUNREACH, ENETUNREACH: "no route to the host"
        case ECONNRESET: "the server reset the connection"
        case EPIPE: "the server closed the connection"
        default: String(cString: strerror(code))
        }
    }
}
