import Logging
import NIOCore
import NIOPosix

/// The public side of the simulated installation played for real: every Active TCP port-forwarding rule is a
/// listener on its public (loopback) address and port, and each connection is admitted or refused by the firewall
/// rules of that address against the connection's real source address, then answered as the guest's service
/// would (an SSH identification string, an RDP connection confirm).
actor GuestPorts {
    /// A public address and port.
    struct Endpoint: Hashable, Sendable, CustomStringConvertible {
        var address: String
        var port: Int
        var description: String { "\(address):\(port)" }
    }

    /// What the installation decides for one incoming connection.
    enum Answer: Sendable, Equatable {
        /// No rule admits it (or nothing runs behind it): reset at once.
        case refuse
        case ssh
        case rdp
    }

    typealias Decide = @Sendable (_ endpoint: Endpoint, _ source: String) -> Answer

    private var listeners: [Endpoint: any Channel] = [:]
    private let decide: Decide
    private let logger: Logger
    private var stopped = false

    init(logger: Logger, decide: @escaping Decide) {
        self.logger = logger
        self.decide = decide
    }

    /// The endpoints listening now.
    var open: Set<Endpoint> { Set(listeners.keys) }

    /// Makes the listeners match `desired()`, read when this call's turn comes: calls run one after another (a
    /// bind awaits, and two calls interleaved would bind one endpoint twice), and each returns once the state it
    /// asked for — or a newer one — is in place.
    func reconcile(_ desired: @escaping @Sendable () -> Set<Endpoint>) async {
        // Nothing in flight and nothing changed since the last apply (most requests): no turn needed.
        if inFlight == 0, applied == desired() { return }
        let previous = last
        inFlight += 1
        let turn = Task {
            await previous?.value
            await self.apply(desired())
            self.finishTurn()
        }
        last = turn
        await turn.value
    }

    private var last: Task<Void, Never>?
    private var inFlight = 0
    /// What the last finished turn was asked for.
    private var applied: Set<Endpoint> = []

    private func finishTurn() { inFlight -= 1 }

    private func apply(_ desired: Set<Endpoint>) async {
        guard !stopped else { return }
        defer { applied = desired }
        for (endpoint, channel) in listeners where !desired.contains(endpoint) {
            listeners[endpoint] = nil
            try? await channel.close()
        }
        for endpoint in desired where listeners[endpoint] == nil {
            do {
                listeners[endpoint] = try await bind(endpoint)
            } catch {
                logger.warning("guest port could not listen", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
            }
        }
    }

    /// Closes every listener (the simulator stops).
    func closeAll() async {
        stopped = true
        for channel in listeners.values { try? await channel.close() }
        listeners = [:]
    }

    private func bind(_ endpoint: Endpoint) async throws -> any Channel {
        let decide = self.decide
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(GuestConnectionHandler(endpoint: endpoint, decide: decide))
                }
            }
            .bind(host: endpoint.address, port: endpoint.port).get()
    }
}

/// One connection to a guest port: refused with a reset, or answered as SSH or RDP.
final class GuestConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What OpenSSH on Debian 12 says first.
    static let sshIdentification = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"

    /// An X.224 Connection Confirm carrying an RDP Negotiation Response that selects TLS (MS-RDPBCGR 2.2.1.2).
    static let rdpConnectionConfirm: [UInt8] = [
        0x03, 0x00, 0x00, 0x13,  // TPKT: version 3, length 19
        0x0E, 0xD0, 0x00, 0x00, 0x12, 0x34, 0x00,  // X.224 CC: LI 14, CC code, DST-REF, SRC-REF, class 0
        0x02, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00,  // TYPE_RDP_NEG_RSP, flags, length 8, PROTOCOL_SSL
    ]

    private let endpoint: GuestPorts.Endpoint
    private let decide: GuestPorts.Decide
    private var answer: GuestPorts.Answer = .refuse
    private var received: [UInt8] = []

    init(endpoint: GuestPorts.Endpoint, decide: @escaping GuestPorts.Decide) {
        self.endpoint = endpoint
        self.decide = decide
    }

    func channelActive(context: ChannelHandlerContext) {
        answer = decide(endpoint, context.remoteAddress?.ipAddress ?? "")
        switch answer {
        case .refuse:
            // A firewall's REJECT: the client sees a reset, not a banner.
            let channel = context.channel
            if let provider = channel as? any SocketOptionProvider {
                provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        case .ssh:
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: Self.sshIdentification)), promise: nil)
        case .rdp:
            break  // the client speaks first
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
        switch answer {
        case .refuse:
            return
        case .ssh:
            // The client's identification line: a guest would go on to key exchange; the simulation ends here.
            if received.contains(0x0A) { context.close(promise: nil) }
        case .rdp:
            // A TPKT-framed X.224 Connection Request (code 0xE0) gets the confirm; anything else is dropped.
            guard received.count >= 4 else { return }
            let length = Int(received[2]) << 8 | Int(received[3])
            guard received.count >= length else { return }
            if received[0] == 0x03, length >= 7, received[5] & 0xF0 == 0xE0 {
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: Self.rdpConnectionConfirm)), promise: nil)
                received.removeFirst(length)
            } else {
                context.close(promise: nil)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
