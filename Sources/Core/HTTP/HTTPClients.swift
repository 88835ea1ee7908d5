import AsyncHTTPClient
import NIOCore

/// The process-wide HTTP client for calls to other services (CloudStack APIs, the repository).
public enum HTTPClients {
    /// Fails fast on a dead endpoint: a 10 s connect timeout and no silent reconnection attempts, so a
    /// refused connection surfaces at once instead of waiting for the request deadline.
    public static let shared: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(10)
        configuration.connectionPool.retryConnectionEstablishment = false
        // AsyncHTTPClient bounds the wait for a pooled connection by the connect timeout: with its default of 8
        // connections per host, 20 publishes at once to one slow server queued past 10 s and failed
        // (getConnectionFromPoolTimeout) though nothing was wrong. A site agent or publisher talks to one host.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
