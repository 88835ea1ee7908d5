import Core
import Foundation

/// How a student reaches a ready seat over the network: a public address and port of the seat's region forwarded
/// to the guest's SSH (Linux) or RDP (Windows) port, admitted by a firewall rule for the course's allowed
/// networks (or, once the student clicked Connect, only their own address), and the seat's own credentials.
public struct SeatAccess: Sendable, Hashable, Codable {
    /// The remote-access protocol of the seat's guest.
    public var service: ServiceProbe.Service
    /// The account on the guest the credentials are for.
    public var username: String
    /// The public address (the region's, associated for the session) and port.
    public var address: String?
    public var port: Int?
    /// The CloudStack id of the public address.
    public var ipAddressID: String?
    /// CloudStack ids of the forwarding and firewall rules, once made.
    public var portForwardingRuleID: String?
    public var firewallRuleID: String?
    /// The source networks the firewall rule admits now (the course's, or the student's own address).
    public var allowedNetworks: [String]
    /// The password, sealed with the server's secrets key; never stored in the clear.
    public var sealedPassword: String

    public init(
        service: ServiceProbe.Service, username: String, address: String? = nil, port: Int? = nil, portForwardingRuleID: String? = nil,
        firewallRuleID: String? = nil, allowedNetworks: [String] = [], sealedPassword: String
    ) {
        self.service = service
        self.username = username
        self.address = address
        self.port = port
        self.portForwardingRuleID = portForwardingRuleID
        self.firewallRuleID = firewallRuleID
        self.allowedNetworks = allowedNetworks
        self.sealedPassword = sealedPassword
    }

    /// Whether the forwarded port is open (address, port and both rules made).
    public var isOpen: Bool { address != nil && port != nil && portForwardingRuleID != nil && firewallRuleID != nil }

    /// The first public port of a session's seats: seat `n` is forwarded on `basePort + n` of its region's address.
    public static let basePort = 20000

    /// The account students get on their seats.
    public static let seatUsername = "student"
}

extension ServiceProbe.Service {
    /// The port the guest's service listens on.
    public var privatePort: Int {
        switch self {
        case .ssh: 22
        case .rdp: 3389
        }
    }
}
