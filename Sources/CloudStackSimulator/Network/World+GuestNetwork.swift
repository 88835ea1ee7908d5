import CloudStack
import Core
import Foundation
import Synchronization

extension World {
    /// The public endpoints that should listen: the ports of every Active TCP port-forwarding rule on an allocated
    /// loopback address (an address elsewhere cannot be bound here and is only recorded). Ranges are capped at 64
    /// ports per rule: a simulation has no use for more listeners.
    func guestEndpoints() -> Set<GuestPorts.Endpoint> {
        var endpoints: Set<GuestPorts.Endpoint> = []
        for rule in portForwardingRules.values where rule.state == "Active" && rule.protocolName == "tcp" {
            guard let ip = publicIPs[rule.ipaddressid ?? ""], ip.state == "Allocated", let address = ip.ipaddress,
                IPAddress.bytes(address)?.first == 127, let start = Int(rule.publicport ?? ""),
                let end = Int(rule.publicendport ?? rule.publicport ?? "")
            else { continue }
            for port in start...min(end, start + 63) { endpoints.insert(.init(address: address, port: port)) }
        }
        return endpoints
    }

    /// What a connection from `source` to a public endpoint meets: a reset unless an Active firewall rule of the
    /// address admits the source for that port and the VM behind the forwarding rule runs a service on the private
    /// port (SSH on 22 for every guest but Windows, RDP on 3389 for Windows).
    func guestAnswer(_ endpoint: GuestPorts.Endpoint, source: String) -> GuestPorts.Answer {
        guard let ip = publicIPs.values.first(where: { $0.ipaddress == endpoint.address && $0.state == "Allocated" }), let ipID = ip.id else {
            return .refuse
        }
        let admitted = firewallRules.values.contains { rule in
            guard rule.ipaddressid == ipID, rule.state == "Active", rule.protocolName == "tcp" || rule.protocolName == "all" else { return false }
            if let start = rule.startport, endpoint.port < start || endpoint.port > (rule.endport ?? start) { return false }
            return (rule.cidrlist ?? "").split(separator: ",").contains { CIDR(String($0))?.contains(source) ?? false }
        }
        guard admitted else { return .refuse }
        guard
            let rule = portForwardingRules.values.first(where: { rule in
                guard rule.ipaddressid == ipID, rule.state == "Active", rule.protocolName == "tcp", let start = Int(rule.publicport ?? "") else {
                    return false
                }
                return (start...(Int(rule.publicendport ?? "") ?? start)).contains(endpoint.port)
            }), let vm = vms[rule.virtualmachineid ?? ""], vm.vm.state == "Running",
            let publicStart = Int(rule.publicport ?? ""), let privateStart = Int(rule.privateport ?? "")
        else { return .refuse }
        let privatePort = privateStart + (endpoint.port - publicStart)
        let windows = (templates[vm.vm.templateid ?? ""]?.template.ostypename ?? vm.vm.guestosid ?? "").lowercased().contains("windows")
        switch (privatePort, windows) {
        case (3389, true): return .rdp
        case (22, false): return .ssh
        default: return .refuse
        }
    }
}

/// Public address ranges for simulated zones: a distinct loopback /24 per zone made in this process, from a random
/// place in 127.64.0.0/10, so forwarded ports of simulators running side by side never collide.
public enum LoopbackRanges {
    private static let next = Mutex<UInt32>(UInt32.random(in: 0..<16_000))

    /// The first address of a fresh range (`127.a.b.10`; the zone takes `publicIPCount` addresses from it).
    public static func fresh() -> String {
        let block = next.withLock { value -> UInt32 in
            defer { value = (value + 1) % 16_384 }
            return value
        }
        let base = UInt32(127) << 24 | UInt32(64) << 16 | block << 8
        return "\(base >> 24).\(base >> 16 & 255).\(base >> 8 & 255).10"
    }
}
