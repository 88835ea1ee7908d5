import Core
import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import SwiftASN1
import Synchronization
import UnixSignals
import X509

/// The server's certificate and key (PEM files) as a TLS context for new connections: TLS 1.2 and 1.3 only,
/// forward-secret AEAD ciphers only. ``reload()`` reads the files again — after a renewal, on `SIGHUP` or when
/// they change — and swaps the context for connections made from then on; open connections keep theirs, so
/// nothing is dropped. A renewal that does not load (a half-written file, a key that does not match) leaves the
/// old certificate serving.
public final class TLSIdentity: Sendable {
    public let certificatePath: String
    public let keyPath: String
    private struct State {
        var context: NIOSSLContext
        var summary: String
        var stamp: String
    }
    private let state: Mutex<State>

    /// Loads the identity.
    /// - Throws: ``APIError`` naming the file and what is wrong with it.
    public init(certificate: String, key: String) throws {
        certificatePath = certificate
        keyPath = key
        let (context, summary) = try Self.load(certificate: certificate, key: key)
        state = Mutex(State(context: context, summary: summary, stamp: FileStamp.of(certificate, key)))
    }

    /// The context new connections use.
    var context: NIOSSLContext { state.withLock { $0.context } }

    /// The certificate now served: subject and expiry.
    public var summary: String { state.withLock { $0.summary } }

    /// Reads the files again and serves them to new connections.
    /// - Returns: the new certificate's summary.
    /// - Throws: ``APIError`` when they do not load (the old identity keeps serving).
    @discardableResult
    public func reload() throws -> String {
        let (context, summary) = try Self.load(certificate: certificatePath, key: keyPath)
        let stamp = FileStamp.of(certificatePath, keyPath)
        state.withLock { $0 = State(context: context, summary: summary, stamp: stamp) }
        return summary
    }

    /// Whether the files changed since they were last loaded.
    var filesChanged: Bool { FileStamp.of(certificatePath, keyPath) != state.withLock { $0.stamp } }

    /// The ciphers offered with TLS 1.2 (TLS 1.3's are all AEAD): ECDHE key exchange, AES-GCM or ChaCha20-Poly1305.
    public static let ciphers: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]

    static func load(certificate: String, key: String) throws -> (NIOSSLContext, String) {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw APIError(status: 500, "Cannot read the TLS certificate \(certificate) (PEM expected): \(error).")
        }
        guard let leaf = chain.first else { throw APIError(status: 500, "The TLS certificate file \(certificate) holds no certificate.") }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw APIError(status: 500, "Cannot read the TLS key \(key) (an unencrypted PEM key expected): \(error).")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuiteValues = ciphers
        configuration.applicationProtocols = ["http/1.1"]
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw APIError(status: 500, "The TLS key \(key) does not fit the certificate \(certificate), or they are unusable: \(error).")
        }
        let parsed = try? Certificate(derEncoded: leaf.toDERBytes())
        let subject = parsed.map { "\($0.subject)" } ?? "(unreadable subject)"
        let expiry = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
        return (context, "\(subject), valid until \(Timestamps.string(from: expiry))")
    }
}

/// Reloads a ``TLSIdentity`` on `SIGHUP` (what certbot's deploy hook sends) and when its files change (looked at
/// every `interval`); logs what it serves or why a reload failed.
public struct TLSReloader: Service {
    let identity: TLSIdentity
    let interval: Duration
    let logger: Logger

    public init(identity: TLSIdentity, interval: Duration = .seconds(60), logger: Logger) {
        self.identity = identity
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) { reload(because: "SIGHUP") }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    if identity.filesChanged { reload(because: "the files changed") }
                }
            }
            // Until the service group shuts down (or this task is cancelled).
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    func reload(because reason: String) {
        do {
            let summary = try identity.reload()
            logger.notice("TLS certificate reloaded", metadata: ["reason": "\(reason)", "certificate": "\(summary)"])
        } catch {
            logger.error("TLS certificate not reloaded: the old one is still served", metadata: ["reason": "\(reason)", "error": "\(error)"])
        }
    }
}

/// A child channel that puts TLS, with the identity's context at connection time, in front of `base`.
struct ReloadableTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let identity: TLSIdentity

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let context = identity.context
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension ReloadableTLSChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { base.responder }
}
