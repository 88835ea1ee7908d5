import Core
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SwiftASN1
import X509

/// Reads an HTTPS endpoint's certificate — subject, issuer, expiry — and whether a client would trust it
/// (system roots plus any configured extra roots, host name checked).
public struct TLSInspector: Sendable {
    /// Extra trusted roots (PEM), e.g. a federation's own CA.
    public var additionalRoots: [NIOSSLCertificate]
    public var timeout: Duration

    public init(additionalRoots: [NIOSSLCertificate] = [], timeout: Duration = .seconds(10)) {
        self.additionalRoots = additionalRoots
        self.timeout = timeout
    }

    /// Loads extra roots from a PEM file.
    public static func roots(pemFile path: String) throws -> [NIOSSLCertificate] {
        try NIOSSLCertificate.fromPEMFile(path)
    }

    /// The certificate `host:port` presents, read without verifying it, then a second handshake that
    /// verifies it.
    /// - Throws: when no TLS connection can be made at all.
    public func inspect(host: String, port: Int, now: Date = Date()) async throws -> CertificateInfo {
        guard let peer = try await handshake(host: host, port: port, verify: false) else {
            throw DashboardError("\(host):\(port) presented no certificate.")
        }
        let certificate = try Certificate(derEncoded: try peer.toDERBytes())
        var info = CertificateInfo(
            subject: certificate.subject.description, issuer: certificate.issuer.description,
            notAfter: Timestamps.string(from: certificate.notValidAfter),
            daysLeft: Int((certificate.notValidAfter.timeIntervalSince(now) / 86_400).rounded(.down)), trusted: true, trustError: nil)
        do {
            _ = try await handshake(host: host, port: port, verify: true)
        } catch {
            info.trusted = false
            info.trustError = "\(error)"
        }
        return info
    }

    private func handshake(host: String, port: Int, verify: Bool) async throws -> NIOSSLCertificate? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = verify ? .fullVerification : .none
        if verify && !additionalRoots.isEmpty { configuration.additionalTrustRoots = [.certificates(additionalRoots)] }
        let context = try NIOSSLContext(configuration: configuration)
        let isAddress = (try? SocketAddress(ipAddress: host, port: port)) != nil
        let done = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(timeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host))
                        try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(done: done))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            done.fail(error)
            throw error
        }
        let timeoutTask = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            done.fail(DashboardError("no TLS handshake with \(host):\(port) within \(timeout)"))
        }
        defer {
            timeoutTask.cancel()
            channel.close(promise: nil)
        }
        try await done.futureResult.get()
        return try await channel.nioSSL_peerCertificate().get()
    }
}

/// Completes `done` when the TLS handshake finishes, or fails it with the handshake's error.
private final class HandshakeWatcher: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) { self.done = done }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { done.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(DashboardError("the connection closed during the TLS handshake"))
        context.fireChannelInactive()
    }
}

/// A dashboard failure, with what to do about it.
public struct DashboardError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
