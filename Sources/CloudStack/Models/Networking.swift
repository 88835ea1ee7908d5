/// A public IP address (`listPublicIpAddresses` → `publicipaddress`; `jobresult.ipaddress`).
public struct PublicIpAddress: Codable, Sendable, Hashable {
    public var id: String?
    public var ipaddress: String?
    public var allocated: Timestamp?
    public var zoneid: String?
    public var zonename: String?
    public var issourcenat: Bool?
    public var account: String?
    public var domainid: String?
    public var domain: String?
    public var forvirtualnetwork: Bool?
    public var vlanid: String?
    public var vlanname: String?
    public var isstaticnat: Bool?
    public var issystem: Bool?
    public var associatednetworkid: String?
    public var associatednetworkname: String?
    public var networkid: String?
    public var state: String?
    public var physicalnetworkid: String?
    public var tags: [ResourceTag]?
    public var isportable: Bool?
    public var fordisplay: Bool?
    public init() {}
}

/// A port-forwarding rule. Ports are strings in CloudStack's answers.
public struct PortForwardingRule: Codable, Sendable, Hashable {
    public var id: String?
    public var privateport: String?
    public var privateendport: String?
    public var protocolName: String?
    public var publicport: String?
    public var publicendport: String?
    public var virtualmachineid: String?
    public var virtualmachinename: String?
    public var virtualmachinedisplayname: String?
    public var ipaddressid: String?
    public var ipaddress: String?
    public var state: String?
    public var cidrlist: String?
    public var tags: [ResourceTag]?
    public var vmguestip: String?
    public var networkid: String?
    public var fordisplay: Bool?
    public init() {}

    enum CodingKeys: String, CodingKey {
        case id, privateport, privateendport
        case protocolName = "protocol"
        case publicport, publicendport, virtualmachineid, virtualmachinename, virtualmachinedisplayname
        case ipaddressid, ipaddress, state, cidrlist, tags, vmguestip, networkid, fordisplay
    }
}

/// A firewall rule on a public IP. Ports are integers here, unlike port-forwarding rules.
public struct FirewallRule: Codable, Sendable, Hashable {
    public var id: String?
    public var protocolName: String?
    public var startport: Int?
    public var endport: Int?
    public var ipaddressid: String?
    public var networkid: String?
    public var ipaddress: String?
    public var state: String?
    public var cidrlist: String?
    public var icmptype: Int?
    public var icmpcode: Int?
    public var tags: [ResourceTag]?
    public var fordisplay: Bool?
    public init() {}

    enum CodingKeys: String, CodingKey {
        case id
        case protocolName = "protocol"
        case startport, endport, ipaddressid, networkid, ipaddress, state, cidrlist, icmptype, icmpcode, tags, fordisplay
    }
}

/// The answer of `createConsoleEndpoint` (CloudStack 4.18+).
public struct ConsoleEndpoint: Codable, Sendable, Hashable {
    public var success: Bool?
    public var details: String?
    public var url: String?
    public var websocket: Websocket?
    public init() {}

    /// How to reach the console proxy's websocket directly.
    public struct Websocket: Codable, Sendable, Hashable {
        public var token: String?
        public var host: String?
        public var port: String?
        public var path: String?
        public var extra: String?
        public init() {}
    }
}

/// An SSH key pair as `registerSSHKeyPair` and `listSSHKeyPairs` answer (the public key is not returned).
public struct SSHKeyPair: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var fingerprint: String?
    public var account: String?
    public var domainid: String?
    public var domain: String?
    public init() {}
}
