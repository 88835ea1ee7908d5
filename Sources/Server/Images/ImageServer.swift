import Core
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The site agent's image endpoint: serves the verified images it assembled to the local CloudStack's
/// secondary storage (`GET /images/{file}`, with `Range`), and only to the configured addresses.
public final class ImageServer: Service, Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// The directory of assembled images.
        public var directory: String
        /// Client addresses allowed to fetch (secondary storage VMs); empty allows loopback only.
        public var allowedAddresses: [String]
        /// HTTPS with this identity; nil: plain HTTP.
        public var tls: TLSIdentity?

        public init(host: String = "127.0.0.1", port: Int = 0, directory: String, allowedAddresses: [String] = [], tls: TLSIdentity? = nil) {
            self.tls = tls
            self.host = host
            self.port = port
            self.directory = directory
            self.allowedAddresses = allowedAddresses
        }
    }

    public let configuration: Configuration
    let logger: Logger
    private let listening = ListeningPort()

    public init(configuration: Configuration, logger: Logger = Logger(label: "mclouds.agent.images")) {
        self.configuration = configuration
        self.logger = logger
    }

    public func waitUntilRunning() async -> Int { await listening.wait() }

    /// The URL CloudStack fetches `file` from.
    public func url(for file: String) -> String {
        "\(configuration.tls == nil ? "http" : "https")://\(configuration.host):\(listening.port ?? configuration.port)/images/\(file)"
    }

    func allows(_ address: String?) -> Bool {
        guard let address else { return false }
        if configuration.allowedAddresses.isEmpty { return address == "127.0.0.1" || address == "::1" }
        return configuration.allowedAddresses.contains(address)
    }

    public func run() async throws {
        let router = Router(context: AddressedRequestContext.self)
        router.add(middleware: JSONErrorMiddleware())
        router.get("/images/{file}") { request, context in try await self.serve(request, context, body: true) }
        router.head("/images/{file}") { request, context in try await self.serve(request, context, body: false) }
        try await HTTPService.run(
            router: router, host: configuration.host, port: configuration.port, serverName: "mclouds-agent", listening: listening,
            idleTimeout: .seconds(60), tls: configuration.tls, logger: logger)
    }

    private func serve(_ request: Request, _ context: AddressedRequestContext, body: Bool) async throws -> Response {
        guard allows(context.remoteAddress?.ipAddress) else {
            throw APIError(status: 403, "This address may not fetch images; add it to the agent's allowed addresses.")
        }
        let file = try context.parameters.require("file")
        // Not the agent's partial or trimmed images, the manifests beside its images, or temporary files.
        guard !file.isEmpty, !file.contains("/"), !file.hasPrefix("."), !file.contains(".partial"), !file.hasSuffix(".manifest"),
            !file.hasSuffix(".trimmed")
        else {
            throw APIError(status: 400, "\(file) is not an image name.")
        }
        let path = configuration.directory + "/" + file
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int else {
            throw APIError(status: 404, "No image \(file) here.")
        }
        var headers: HTTPFields = [.contentType: "application/octet-stream", .acceptRanges: "bytes"]
        let selection = ByteRange.select(request, size: size, validator: nil, headers: &headers, what: file)
        guard case .serve(let status, let range) = selection else { return selection.refusal! }
        headers[.contentLength] = String(range.count)
        guard body, !range.isEmpty else { return Response(status: status, headers: headers) }
        let content = try await FileIO().loadFile(path: path, range: range.lowerBound...(range.upperBound - 1), context: context)
        return Response(status: status, headers: headers, body: content)
    }
}

/// A request context that knows the client's address (for allowlists).
public struct AddressedRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
