import AsyncHTTPClient
import NIOCore
import NIOSSL
import Synchronization

/// The process-wide HTTP clients for calls to other services (CloudStack APIs, the repository).
public enum HTTPClients {
    /// Fails fast on a dead endpoint: a 10 s connect timeout and no silent reconnection attempts, so a
    /// refused connection surfaces at once instead of waiting for the request deadline. Certificates are
    /// verified against the system's roots.
    public static let shared: HTTPClient = make(tls: nil)

    private static let trusting = Mutex<[String: HTTPClient]>([:])

    /// A client that verifies certificates against the system's roots plus the PEM CA bundle at `caBundle` (a
    /// partner's own CA), or — `verify` false, an explicit setting that the caller logs — not at all. One client
    /// per bundle, kept for the life of the process.
    /// - Throws: NIOSSL's error when the bundle cannot be read.
    public static func trusting(caBundle: String?, verify: Bool = true) throws -> HTTPClient {
        guard caBundle != nil || !verify else { return shared }
        let key = "\(verify ? "verify" : "none"):\(caBundle ?? "")"
        if let client = trusting.withLock({ $0[key] }) { return client }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caBundle { tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caBundle))] }
        if !verify { tls.certificateVerification = .none }
        let client = make(tls: tls)
        return trusting.withLock { clients in
            if let existing = clients[key] {
                try? client.syncShutdown()
                return existing
            }
            clients[key] = client
            return client
        }
    }

    private static func make(tls: TLSConfiguration?) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = tls
        configuration.timeout.connect = .seconds(10)
        configuration.connectionPool.retryConnectionEstablishment = false
        // AsyncHTTPClient bounds the wait for a pooled connection by the connect timeout: with its default of 8
        // connections per host, 20 publishes at once to one slow server queued past 10 s and failed
        // (getConnectionFromPoolTimeout) though nothing was wrong. A site agent or publisher talks to one host.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }
}
