import NIOCore
import NIOPosix

/// Checks that a remote-access service answers on an address and port the way a client would find it: a TCP
/// connect, then the first exchange of the protocol (an SSH server's identification line, an RDP server's
/// X.224 Connection Confirm), optionally from a chosen local source address so that firewall rules that admit
/// some networks and not others can be tested from one machine.
public enum ServiceProbe {
    /// The protocol to speak.
    public enum Service: String, Sendable, Codable, CaseIterable {
        case ssh
        case rdp
    }

    /// What the probe met.
    public enum Outcome: Sendable, Equatable {
        /// An SSH server identified itself (the identification line without its line end).
        case ssh(banner: String)
        /// An RDP server confirmed the connection and selected a security protocol (MS-RDPBCGR `selectedProtocol`).
        case rdp(selectedProtocol: UInt32)
        /// The connection was refused or reset before the service answered.
        case refused
        /// The connection was accepted but nothing recognisable came back in time.
        case silent

        /// Whether the service answered.
        public var answered: Bool {
            switch self {
            case .ssh, .rdp: true
            case .refused, .silent: false
            }
        }
    }

    /// An X.224 Connection Request with an RDP Negotiation Request for TLS and CredSSP (MS-RDPBCGR 2.2.1.1).
    static let rdpConnectionRequest: [UInt8] = [
        0x03, 0x00, 0x00, 0x13,  // TPKT: version 3, length 19
        0x0E, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00,  // X.224 CR: LI 14, CR code, DST-REF, SRC-REF, class 0
        0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00,  // TYPE_RDP_NEG_REQ, flags, length 8, PROTOCOL_SSL|HYBRID
    ]

    /// Probes `host:port` for `service`, connecting from `source` when given (an address of this machine).
    public static func probe(
        host: String, port: Int, service: Service, source: String? = nil, timeout: Duration = .seconds(5),
        clock: some Clock<Duration> = ContinuousClock()
    ) async -> Outcome {
        await withTaskGroup(of: Outcome.self) { group in
            group.addTask { await exchange(host: host, port: port, service: service, source: source, timeout: timeout) }
            group.addTask {
                try? await clock.sleep(for: timeout)
                return .silent
            }
            let first = await group.next() ?? .silent
            group.cancelAll()
            return first
        }
    }

    private static func exchange(host: String, port: Int, service: Service, source: String?, timeout: Duration) async -> Outcome {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount.nanoseconds(timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
            if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
            channel = try await bootstrap.connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        } catch {
            return .refused
        }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                var received: [UInt8] = []
                switch service {
                case .ssh:
                    for try await var buffer in inbound {
                        received += buffer.readBytes(length: buffer.readableBytes) ?? []
                        if let end = received.firstIndex(of: 0x0A) {
                            let line = String(decoding: received[..<end], as: UTF8.self)
                            let banner = line.hasSuffix("\r") ? String(line.dropLast()) : line
                            guard banner.hasPrefix("SSH-") else { return .silent }
                            try? await outbound.write(ByteBuffer(string: "SSH-2.0-mclouds_probe\r\n"))
                            return .ssh(banner: banner)
                        }
                    }
                case .rdp:
                    try await outbound.write(ByteBuffer(bytes: rdpConnectionRequest))
                    for try await var buffer in inbound {
                        received += buffer.readBytes(length: buffer.readableBytes) ?? []
                        if let outcome = rdpConfirm(received) { return outcome }
                    }
                }
                return received.isEmpty ? .refused : .silent
            }
        } catch {
            return .refused
        }
    }

    /// The outcome of a complete TPKT packet, or nil while one is incomplete.
    static func rdpConfirm(_ bytes: [UInt8]) -> Outcome? {
        guard bytes.count >= 4 else { return nil }
        let length = Int(bytes[2]) << 8 | Int(bytes[3])
        guard bytes.count >= length else { return nil }
        guard bytes[0] == 0x03, length >= 11, bytes[5] & 0xF0 == 0xD0 else { return .silent }
        // An RDP Negotiation Response (type 2) carries the selected protocol; a bare confirm means standard RDP security.
        guard length >= 19, bytes[11] == 0x02 else { return .rdp(selectedProtocol: 0) }
        let selected = UInt32(bytes[15]) | UInt32(bytes[16]) << 8 | UInt32(bytes[17]) << 16 | UInt32(bytes[18]) << 24
        return .rdp(selectedProtocol: selected)
    }
}
