import CloudStack
import Core
import Crypto
import Foundation

extension World {
    /// CloudStack's refusal of a rule on an address that is not (or no longer) associated.
    static func notAssociated(_ ipID: String) -> APIError {
        .param("Unable to create firewall rule ; ip with specified id is not associated with any network")
    }

    /// The allocated public IP `id`, or CloudStack's errors for an unknown or released one.
    func associatedIP(_ ctx: CommandContext, _ id: String) throws -> PublicIpAddress {
        if releasedIPs?.contains(id) == true { throw Self.notAssociated(id) }
        guard let ip = publicIPs[id] else { throw APIError.unknownEntity(ctx.command, "ipaddressid", id) }
        return ip
    }

    /// `disassociateIpAddress` (async): releases a public IP with its port-forwarding and firewall rules. The
    /// source-NAT address of a network is refused, as CloudStack does.
    mutating func disassociateIpAddress(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.required("id")
        if releasedIPs?.contains(id) == true { throw APIError.param("Unable to find ip address by id=\(id)") }
        guard let ip = publicIPs[id] else { throw APIError.unknownEntity(ctx.command, "id", id) }
        guard ctx.isAdmin || ip.account == ctx.caller.user.account else {
            throw APIError(
                errorCode: 531, csErrorCode: 4365,
                text: "Account \(ctx.caller.user.account ?? "") does not have permission to operate on this resource")
        }
        if ip.issourcenat == true {
            throw APIError.param("IP address id=\(id) is source nat for network id=\(ip.associatednetworkid ?? ""), releasing it is not allowed")
        }
        publicIPs[id]?.state = "Releasing"
        return submitJob(
            ctx, action: .disassociateIP(id: id), cmdClass: "org.apache.cloudstack.api.command.user.address.DisassociateIPAddrCmd",
            instanceType: "IpAddress", instanceID: id)
    }

    mutating func completeDisassociate(id: String) -> JSONValue {
        for (ruleID, rule) in portForwardingRules where rule.ipaddressid == id { removePortForwarding(ruleID) }
        for (ruleID, rule) in firewallRules where rule.ipaddressid == id {
            firewallRules[ruleID] = nil
            firewallOrder.removeAll { $0 == ruleID }
            tags[ruleID] = nil
        }
        if let vm = staticNATByVM.first(where: { $0.value == id })?.key { staticNATByVM[vm] = nil }
        publicIPs[id] = nil
        publicIPOrder.removeAll { $0 == id }
        tags[id] = nil
        releasedIPs = (releasedIPs ?? []).union([id])
        return .object([("success", .bool(true))])
    }

    mutating func removePortForwarding(_ ruleID: String) {
        openedFirewall?[ruleID] = nil
        portForwardingRules[ruleID] = nil
        portForwardingOrder.removeAll { $0 == ruleID }
        tags[ruleID] = nil
    }

    /// `deletePortForwardingRule` (async). The firewall rule opened with it (`openfirewall`) goes with it.
    mutating func deletePortForwardingRule(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.required("id")
        guard let rule = portForwardingRules[id] else { throw APIError.unknownEntity(ctx.command, "id", id) }
        try checkOwner(vms[rule.virtualmachineid ?? ""]?.accountID ?? adminAccountID, ctx)
        portForwardingRules[id]?.state = "Revoke"
        return submitJob(
            ctx, action: .deletePortForwarding(id: id), cmdClass: "org.apache.cloudstack.api.command.user.firewall.DeletePortForwardingRuleCmd",
            instanceType: "FirewallRule", instanceID: id)
    }

    mutating func completeDeletePortForwarding(id: String) -> JSONValue {
        if let opened = openedFirewall?[id] {
            firewallRules[opened] = nil
            firewallOrder.removeAll { $0 == opened }
        }
        removePortForwarding(id)
        return .object([("success", .bool(true))])
    }

    // MARK: SSH key pairs

    /// `registerSSHKeyPair` (sync): records an OpenSSH public key under a name unique in the account.
    mutating func registerSSHKeyPair(_ ctx: CommandContext) throws -> Reply {
        let name = try ctx.required("name")
        let key = try ctx.required("publickey").trimmingCharacters(in: .whitespacesAndNewlines)
        let account = ctx.callerAccountID
        if sshKeyPairs?.values.contains(where: { $0.accountID == account && $0.pair.name == name }) == true {
            throw APIError.param("A key pair with name '\(name)' already exists.")
        }
        let parts = key.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("ssh-") || parts[0].hasPrefix("ecdsa-"), let blob = Data(base64Encoded: String(parts[1])),
            !blob.isEmpty
        else { throw APIError.param("Public key is invalid") }
        let fingerprint = Insecure.MD5.hash(data: blob).map { String(format: "%02x", $0) }.joined(separator: ":")
        var pair = SSHKeyPair()
        pair.id = Self.newID()
        pair.name = name
        pair.fingerprint = fingerprint
        pair.account = accounts[account]?.account.name
        pair.domainid = domainID
        pair.domain = "ROOT"
        sshKeyPairs = sshKeyPairs ?? [:]
        sshKeyPairs![pair.id!] = SSHKeyPairRecord(pair: pair, accountID: account, publicKey: key)
        return .object("keypair", encodeModel(pair))
    }

    /// `deleteSSHKeyPair` (sync): `{"success": "true"}`.
    mutating func deleteSSHKeyPair(_ ctx: CommandContext) throws -> Reply {
        let name = try ctx.required("name")
        guard let id = sshKeyPairs?.first(where: { $0.value.accountID == ctx.callerAccountID && $0.value.pair.name == name })?.key else {
            throw APIError.param("A key pair with name '\(name)' does not exist for account \(ctx.caller.user.account ?? "") in specified domain id")
        }
        sshKeyPairs![id] = nil
        return .success
    }

    func listSSHKeyPairs(_ ctx: CommandContext) throws -> Reply {
        let name = ctx.optional("name")
        let rows = (sshKeyPairs ?? [:]).values.filter { record in
            (ctx.isAdmin && ctx.bool("listall") == true || record.accountID == ctx.callerAccountID) && (name == nil || record.pair.name == name)
        }.sorted { ($0.pair.name ?? "") < ($1.pair.name ?? "") }
        return try ctx.page(rows, objectName: "sshkeypair") { encodeModel($0.pair) }
    }

    /// The key pair `name` of an account, or CloudStack's refusal.
    func keyPair(named name: String, account: String) throws -> SSHKeyPairRecord {
        guard let record = sshKeyPairs?.values.first(where: { $0.accountID == account && $0.pair.name == name }) else {
            throw APIError.param("A key pair with name '\(name)' was not found.")
        }
        return record
    }

    /// User data as `deployVirtualMachine` takes it: base64, at most 32 KiB decoded on GET and 1 MiB on POST
    /// (`vm.userdata.max.length`); anything else is CloudStack's refusal.
    static func userData(_ ctx: CommandContext) throws -> String? {
        guard let text = ctx.optional("userdata") else { return nil }
        guard let data = Data(base64Encoded: text) else { throw APIError.param("User data is not base64 encoded") }
        guard data.count <= 1_048_576 else { throw APIError.param("User data is too long to pass via POST") }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A registered SSH key pair and its public key.
struct SSHKeyPairRecord: Codable, Sendable {
    var pair: SSHKeyPair
    var accountID: String
    var publicKey: String
}
