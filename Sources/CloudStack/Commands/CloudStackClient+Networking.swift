import Core
import Logging

extension CloudStackClient {
    /// `associateIpAddress`: acquires a public IP for a network (or zone), waiting for the job.
    public func associateIpAddress(networkID: String? = nil, zoneID: String? = nil, logger: Logger) async throws -> PublicIpAddress {
        var p: Parameters = [:]
        p["networkid"] = networkID
        p["zoneid"] = zoneID
        return try await run("associateIpAddress", p.values, resultAs: PublicIpAddress.self, logger: logger)
    }

    /// `listPublicIpAddresses` (all pages).
    public func listPublicIpAddresses(zoneID: String? = nil, allocatedOnly: Bool = true, logger: Logger) async throws -> [PublicIpAddress] {
        var p: Parameters = ["listall": "true"]
        p["zoneid"] = zoneID
        p.set("allocatedonly", allocatedOnly)
        return try await list("listPublicIpAddresses", p.values, as: PublicIpAddress.self, logger: logger)
    }

    /// `createPortForwardingRule` from a public IP's port to a VM's port, waiting for the job.
    public func createPortForwardingRule(
        ipAddressID: String, publicPort: Int, privatePort: Int, protocolName: String = "tcp", virtualMachineID: String, cidrList: [String] = [],
        openFirewall: Bool? = nil, logger: Logger
    ) async throws -> PortForwardingRule {
        var p: Parameters = [
            "ipaddressid": ipAddressID, "publicport": String(publicPort), "privateport": String(privatePort), "protocol": protocolName,
            "virtualmachineid": virtualMachineID,
        ]
        p.set("cidrlist", list: cidrList)
        p.set("openfirewall", openFirewall)
        return try await run("createPortForwardingRule", p.values, resultAs: PortForwardingRule.self, logger: logger)
    }

    /// `listPortForwardingRules` (all pages).
    public func listPortForwardingRules(ipAddressID: String? = nil, logger: Logger) async throws -> [PortForwardingRule] {
        var p: Parameters = ["listall": "true"]
        p["ipaddressid"] = ipAddressID
        return try await list("listPortForwardingRules", p.values, as: PortForwardingRule.self, logger: logger)
    }

    /// `createFirewallRule` on a public IP, waiting for the job.
    public func createFirewallRule(
        ipAddressID: String, protocolName: String = "tcp", startPort: Int? = nil, endPort: Int? = nil, cidrList: [String] = [], logger: Logger
    ) async throws -> FirewallRule {
        var p: Parameters = ["ipaddressid": ipAddressID, "protocol": protocolName]
        p.set("startport", startPort)
        p.set("endport", endPort)
        p.set("cidrlist", list: cidrList)
        return try await run("createFirewallRule", p.values, resultAs: FirewallRule.self, logger: logger)
    }

    /// `listFirewallRules` (all pages), of one public IP or all.
    public func listFirewallRules(ipAddressID: String? = nil, logger: Logger) async throws -> [FirewallRule] {
        var p: Parameters = ["listall": "true"]
        p["ipaddressid"] = ipAddressID
        return try await list("listFirewallRules", p.values, as: FirewallRule.self, logger: logger)
    }

    /// `deleteFirewallRule`, waiting for the job.
    public func deleteFirewallRule(id: String, logger: Logger) async throws {
        _ = try await run("deleteFirewallRule", ["id": id], logger: logger)
    }

    /// `disassociateIpAddress`: releases a public IP (and CloudStack revokes its rules), waiting for the job.
    public func disassociateIpAddress(id: String, logger: Logger) async throws {
        _ = try await run("disassociateIpAddress", ["id": id], logger: logger)
    }

    /// `deletePortForwardingRule`, waiting for the job.
    public func deletePortForwardingRule(id: String, logger: Logger) async throws {
        _ = try await run("deletePortForwardingRule", ["id": id], logger: logger)
    }

    /// `registerSSHKeyPair`: records an OpenSSH public key under `name` for later `deployVirtualMachine keypair=`.
    public func registerSSHKeyPair(name: String, publicKey: String, logger: Logger) async throws -> SSHKeyPair {
        try await callObject("registerSSHKeyPair", ["name": name, "publickey": publicKey], as: SSHKeyPair.self, logger: logger)
    }
}
