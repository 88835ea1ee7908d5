import CloudStack
import Core
import Foundation

extension World {
    /// CloudStack's `ResourceObjectType` names this installation can tag, and whether an id exists.
    func resourceExists(type: String, id: String) -> Bool {
        switch type {
        case "UserVm": return vms[id] != nil
        case "Template": return templates[id].map { !$0.removed } ?? false
        case "Volume": return volumes[id] != nil
        case "Network": return networks[id] != nil
        case "Zone": return zones.contains { $0.zone.id == id }
        case "PublicIpAddress": return publicIPs[id] != nil
        case "PortForwardingRule": return portForwardingRules[id] != nil
        case "FirewallRule": return firewallRules[id] != nil
        default: return false
        }
    }

    static let resourceTypes = [
        "UserVm", "Template", "ISO", "Volume", "Snapshot", "Network", "Zone", "PublicIpAddress", "PortForwardingRule", "FirewallRule", "Project",
        "Vpc", "Nic", "SecurityGroup",
    ]

    func canonicalResourceType(_ ctx: CommandContext) throws -> String {
        let given = try ctx.required("resourcetype")
        guard let type = Self.resourceTypes.first(where: { $0.lowercased() == given.lowercased() }) else {
            throw APIError.param("Invalid resource type \(given)")
        }
        return type
    }

    mutating func createTags(_ ctx: CommandContext) throws -> Reply {
        let type = try canonicalResourceType(ctx)
        let ids = ctx.list("resourceids")
        guard !ids.isEmpty else { throw APIError.missing(ctx.command, "resourceids") }
        let newTags = ctx.tags()
        guard !newTags.isEmpty else { throw APIError.missing(ctx.command, "tags") }
        var created: [ResourceTag] = []
        for id in ids {
            guard resourceExists(type: type, id: id) else { throw APIError.param("Unable to find resource by id \(id) and type \(type)") }
            for tag in newTags {
                if (tags[id] ?? []).contains(where: { $0.key == tag.key }) {
                    throw APIError(errorCode: 530, csErrorCode: 4250, text: "tag \(tag.key ?? "") already on \(type) id=\(id)")
                }
                var t = ResourceTag(key: tag.key ?? "", value: tag.value ?? "")
                t.resourcetype = type
                t.resourceid = id
                t.account = ctx.caller.user.account
                t.domainid = domainID
                t.domain = "ROOT"
                t.customer = ctx.optional("customer")
                created.append(t)
            }
        }
        return submitJob(
            ctx, action: .createTags(tags: created), cmdClass: "org.apache.cloudstack.api.command.user.tag.CreateTagsCmd", instanceType: "None")
    }

    mutating func deleteTags(_ ctx: CommandContext) throws -> Reply {
        let type = try canonicalResourceType(ctx)
        let ids = ctx.list("resourceids")
        guard !ids.isEmpty else { throw APIError.missing(ctx.command, "resourceids") }
        return submitJob(
            ctx, action: .deleteTags(resourceIDs: ids, resourceType: type, tags: ctx.tags()),
            cmdClass: "org.apache.cloudstack.api.command.user.tag.DeleteTagsCmd",
            instanceType: "None")
    }

    func listTags(_ ctx: CommandContext) throws -> Reply {
        let type = ctx.optional("resourcetype")?.lowercased()
        let resourceID = ctx.optional("resourceid")
        let key = ctx.optional("key")
        let value = ctx.optional("value")
        let all = tags.keys.sorted().flatMap { tags[$0]! }.filter { t in
            (type == nil || t.resourcetype?.lowercased() == type) && (resourceID == nil || t.resourceid == resourceID) && (key == nil || t.key == key)
                && (value == nil || t.value == value) && (ctx.isAdmin || t.account == ctx.caller.user.account) && ctx.matchesKeyword(t.key, t.value)
        }
        return try ctx.page(all, objectName: "tag") { encodeModel($0) }
    }

    func publicIPView(_ id: String) -> JSONValue {
        guard var ip = publicIPs[id] else { return .object([]) }
        ip.tags = tags[id] ?? []
        return encodeModel(ip)
    }

    mutating func associateIpAddress(_ ctx: CommandContext) throws -> Reply {
        var zi: Int?
        var networkID = ctx.optional("networkid")
        if let networkID {
            guard let network = networks[networkID] else { throw APIError.unknownEntity(ctx.command, "networkid", networkID) }
            zi = zoneIndex(network.zoneid ?? "")
        } else if let zoneID = ctx.optional("zoneid") {
            guard let index = zoneIndex(zoneID) else { throw APIError.unknownEntity(ctx.command, "zoneid", zoneID) }
            zi = index
            networkID = zones[index].networkID
        } else {
            throw APIError.param("Unable to figure out zone to assign IP to. Please specify either zoneId, or networkId, or vpcId in the call")
        }
        guard let zoneIndex = zi else { throw APIError.internalError("Network has no zone") }
        let used = Set(publicIPs.values.filter { $0.zoneid == zones[zoneIndex].zone.id }.compactMap(\.ipaddress))
        guard zones[zoneIndex].publicIPs.contains(where: { !used.contains($0) }) else {
            throw APIError(
                errorCode: 533, csErrorCode: 4325,
                text: "Insufficient address capacity: Insufficient address capacity for zone \(zoneIndex + 1) (Zone\(zoneIndex + 1))")
        }
        let id = allocatePublicIP(zoneIndex: zoneIndex, networkID: networkID!, accountID: ctx.callerAccountID, now: ctx.now)
        return submitJob(
            ctx, action: .associateIP(id: id), cmdClass: Self.commandClass("address", "AssociateIPAddr", admin: ctx.isAdmin),
            instanceType: "IpAddress",
            instanceID: id, createStyle: true)
    }

    func listPublicIpAddresses(_ ctx: CommandContext) throws -> Reply {
        let id = ctx.optional("id")
        let zoneID = ctx.optional("zoneid")
        let address = ctx.optional("ipaddress")
        let networkID = ctx.optional("associatednetworkid")
        let rows = publicIPOrder.compactMap { publicIPs[$0] }.filter { ip in
            (id == nil || ip.id == id) && (zoneID == nil || ip.zoneid == zoneID) && (address == nil || ip.ipaddress == address)
                && (networkID == nil || ip.associatednetworkid == networkID) && (ctx.isAdmin || ip.account == ctx.caller.user.account)
        }
        return try ctx.page(rows, objectName: "publicipaddress") { publicIPView($0.id!) }
    }

    static func port(_ ctx: CommandContext, _ name: String, required: Bool) throws -> Int? {
        guard let text = required ? try ctx.required(name) : ctx.optional(name) else { return nil }
        guard let value = Int(text) else { throw APIError.invalidValue(ctx.command, name, text) }
        guard (1...65535).contains(value) else { throw APIError.param("Invalid port \(value) for parameter \(name): ports are 1 to 65535") }
        return value
    }

    mutating func createPortForwardingRule(_ ctx: CommandContext) throws -> Reply {
        let ipID = try ctx.required("ipaddressid")
        let proto = try ctx.required("protocol").lowercased()
        let publicPort = try Self.port(ctx, "publicport", required: true)!
        let privatePort = try Self.port(ctx, "privateport", required: true)!
        let publicEnd = try Self.port(ctx, "publicendport", required: false) ?? publicPort
        let privateEnd = try Self.port(ctx, "privateendport", required: false) ?? privatePort
        let vmID = try ctx.required("virtualmachineid")
        let ip = try associatedIP(ctx, ipID)
        guard let vm = vms[vmID], vm.vm.state != "Expunging", vm.vm.state != "Destroyed" else {
            throw APIError.unknownEntity(ctx.command, "virtualmachineid", vmID)
        }
        try checkOwner(vm.accountID, ctx)
        guard ["tcp", "udp"].contains(proto) else { throw APIError.param("Invalid protocol: \(proto). Supported protocols are tcp and udp") }
        guard publicEnd - publicPort == privateEnd - privatePort else {
            throw APIError.param("Private port range and public port range must be of the same size")
        }
        for other in portForwardingRules.values where other.ipaddressid == ipID && other.protocolName == proto {
            let start = Int(other.publicport ?? "0") ?? 0
            let end = Int(other.publicendport ?? other.publicport ?? "0") ?? start
            if publicPort <= end && start <= publicEnd {
                throw APIError(
                    errorCode: 537, csErrorCode: 4360,
                    text: "The range specified, \(publicPort)-\(publicEnd), conflicts with rule \(other.id ?? "") which has \(start)-\(end)")
            }
        }
        var rule = PortForwardingRule()
        rule.id = Self.newID()
        rule.privateport = String(privatePort)
        rule.privateendport = String(privateEnd)
        rule.protocolName = proto
        rule.publicport = String(publicPort)
        rule.publicendport = String(publicEnd)
        rule.virtualmachineid = vmID
        rule.virtualmachinename = vm.vm.name
        rule.virtualmachinedisplayname = vm.vm.displayname
        rule.ipaddressid = ipID
        rule.ipaddress = ip.ipaddress
        rule.state = "Add"
        rule.cidrlist = ctx.list("cidrlist").isEmpty ? "0.0.0.0/0" : ctx.list("cidrlist").joined(separator: ",")
        rule.tags = []
        rule.vmguestip = vm.vm.nic?.first?.ipaddress
        rule.networkid = vm.vm.nic?.first?.networkid
        rule.fordisplay = true
        portForwardingRules[rule.id!] = rule
        portForwardingOrder.append(rule.id!)
        if ctx.bool("openfirewall") ?? true {
            let opened = addFirewallRule(ipID: ipID, proto: proto, start: publicPort, end: publicEnd, cidrs: rule.cidrlist!, active: true)
            openedFirewall = openedFirewall ?? [:]
            openedFirewall![rule.id!] = opened
        }
        return submitJob(
            ctx, action: .createPortForwarding(id: rule.id!), cmdClass: "org.apache.cloudstack.api.command.user.firewall.CreatePortForwardingRuleCmd",
            instanceType: "FirewallRule", instanceID: rule.id!, createStyle: true)
    }

    func listPortForwardingRules(_ ctx: CommandContext) throws -> Reply {
        let id = ctx.optional("id")
        let ipID = ctx.optional("ipaddressid")
        let rows = portForwardingOrder.compactMap { portForwardingRules[$0] }.filter { r in
            (id == nil || r.id == id) && (ipID == nil || r.ipaddressid == ipID)
                && (ctx.isAdmin || vms[r.virtualmachineid ?? ""]?.accountID == ctx.callerAccountID)
        }
        return try ctx.page(rows, objectName: "portforwardingrule") { r in
            var rule = r
            rule.tags = tags[r.id!] ?? []
            return encodeModel(rule)
        }
    }

    mutating func addFirewallRule(ipID: String, proto: String, start: Int?, end: Int?, cidrs: String, active: Bool) -> String {
        var rule = FirewallRule()
        rule.id = Self.newID()
        rule.protocolName = proto
        rule.startport = start
        rule.endport = end
        rule.ipaddressid = ipID
        rule.networkid = publicIPs[ipID]?.associatednetworkid
        rule.ipaddress = publicIPs[ipID]?.ipaddress
        rule.state = active ? "Active" : "Add"
        rule.cidrlist = cidrs
        rule.tags = []
        rule.fordisplay = true
        firewallRules[rule.id!] = rule
        firewallOrder.append(rule.id!)
        return rule.id!
    }

    mutating func createFirewallRule(_ ctx: CommandContext) throws -> Reply {
        let ipID = try ctx.required("ipaddressid")
        let proto = try ctx.required("protocol").lowercased()
        _ = try associatedIP(ctx, ipID)
        guard ["tcp", "udp", "icmp", "all"].contains(proto) else { throw APIError.param("Invalid protocol: \(proto)") }
        let start = try Self.port(ctx, "startport", required: false)
        let end = try Self.port(ctx, "endport", required: false) ?? start
        if let start, let end, end < start { throw APIError.param("Invalid port range \(start)-\(end)") }
        let cidrs = ctx.list("cidrlist")
        for cidr in cidrs where !Self.isValidCIDR(cidr) { throw APIError.param("Invalid cidr \(cidr)") }
        let id = addFirewallRule(
            ipID: ipID, proto: proto, start: start, end: end, cidrs: cidrs.isEmpty ? "0.0.0.0/0" : cidrs.joined(separator: ","), active: false)
        return submitJob(
            ctx, action: .createFirewall(id: id), cmdClass: "org.apache.cloudstack.api.command.user.firewall.CreateFirewallRuleCmd",
            instanceType: "FirewallRule",
            instanceID: id, createStyle: true)
    }

    mutating func deleteFirewallRule(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.required("id")
        guard firewallRules[id] != nil else { throw APIError.unknownEntity(ctx.command, "id", id) }
        firewallRules[id]?.state = "Revoke"
        return submitJob(
            ctx, action: .deleteFirewall(id: id), cmdClass: "org.apache.cloudstack.api.command.user.firewall.DeleteFirewallRuleCmd",
            instanceType: "FirewallRule", instanceID: id)
    }

    func listFirewallRules(_ ctx: CommandContext) throws -> Reply {
        let ipID = ctx.optional("ipaddressid")
        let rows = firewallOrder.compactMap { firewallRules[$0] }.filter { ipID == nil || $0.ipaddressid == ipID }
        return try ctx.page(rows, objectName: "firewallrule") { encodeModel($0) }
    }

    static func isValidCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let bits = Int(parts[1]), (0...32).contains(bits) else { return false }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { Int($0).map { (0...255).contains($0) } ?? false }
    }
}
