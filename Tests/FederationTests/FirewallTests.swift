import CloudStack
import CloudStackSimulator
import Core
import Federation
import Foundation
import TestSupport
import Testing

@Suite("IP locks: firewall rules from the registry")
struct FirewallTests {
    static let regions = [
        FederationRegion(
            id: 6, name: "MECA-TUS", endpoint: "https://cloud.tus.example:8443/client/api", apiKey: "K6",
            networks: ["10.6.0.0/16", "10.6.7.0/24", "10.6.200.9/16", "2001:db8:6::/48", "192.0.2.66"]),
        FederationRegion(id: 1, name: "MECA-PolITO", endpoint: "http://cloud.polito.example/client/api", apiKey: "K1", networks: ["10.1.0.0/16"]),
        FederationRegion(id: 3, name: "MECA-BME", endpoint: "https://cloud.bme.example/client/api", apiKey: "K3"),
    ]

    @Test("sources are minimal and canonical; a region admits the central service and its own networks; ports come from the endpoints")
    func plan() throws {
        let plan = FirewallPlan(regions: Self.regions, central: [CIDR("198.51.100.0/28")!])
        #expect(try plan.sources(for: .region(6)).map(\.canonical) == ["10.6.0.0/16", "192.0.2.66", "198.51.100.0/28", "2001:db8:6:0:0:0:0:0/48"])
        #expect(try plan.sources(for: .region(3)).map(\.canonical) == ["198.51.100.0/28"])
        #expect(
            try plan.sources(for: .central(ports: [443])).map(\.canonical) == ["10.1.0.0/16", "10.6.0.0/16", "192.0.2.66", "2001:db8:6:0:0:0:0:0/48"])
        #expect(try plan.ports(for: .region(6)) == [8443])
        #expect(try plan.ports(for: .region(1)) == [80])
        #expect(try plan.ports(for: .region(3)) == [443])
        #expect(throws: FederationError.self) { try plan.sources(for: .region(99)) }
        // Nothing to admit: refused rather than a rule that locks everyone out.
        #expect(throws: FederationError.self) { try FirewallPlan(regions: [Self.regions[2]], central: []).sources(for: .region(3)) }
        let settings = try plan.cloudStackSettings()
        #expect(settings.map(\.region) == [1, 3, 6])
        #expect(settings.last?.allowedCIDRs == "10.6.0.0/16,192.0.2.66/32,198.51.100.0/28,2001:db8:6:0:0:0:0:0/48")
        // A network that is not one is refused when registered.
        var bad = Self.regions[1]
        bad.networks = ["10.0.0.0/33"]
        #expect(throws: FederationError.self) { try bad.validate() }
    }

    @Test("a region's networks and its TLS verification are stored and changed like its other fields", arguments: TestDatabase.available)
    func stored(backend: TestDatabase) async throws {
        try await withRegistry(on: backend) { registry, _, _ in
            try await registry.add(Self.regions[0], secretKey: "s")
            var stored = try await registry.region("6")
            #expect(stored.networks == Self.regions[0].networks && stored.verifyTLS)
            try await registry.update(6, .init(networks: ["10.9.0.0/16"], verifyTLS: false))
            stored = try await registry.region("6")
            #expect(stored.networks == ["10.9.0.0/16"] && !stored.verifyTLS)
            await #expect(throws: FederationError.self) { try await registry.update(6, .init(networks: ["not-a-network"])) }
        }
    }

    @Test("the nftables rulesets pass `nft -c`", .enabled(if: Tools.available("nft")))
    func nftCheck() async throws {
        try await withTemporaryDirectory { directory in
            let plan = FirewallPlan(regions: Self.regions, central: [CIDR("198.51.100.0/28")!, CIDR("2001:db8:ffff::1")!])
            for target in [FirewallPlan.Target.central(ports: [443, 8080]), .region(6), .region(1), .region(3)] {
                let file = directory.appendingPathComponent("rules.nft")
                let rules = try plan.nftables(for: target)
                try rules.write(to: file, atomically: true, encoding: .utf8)
                let check = try await runProgram(Tools.path("nft") ?? "/usr/sbin/nft", ["-c", "-f", file.path])
                #expect(check.status == 0, "\(target): \(check.stderr)\n\(rules)")
            }
            // And a broken one fails, so the check is a check.
            let broken = directory.appendingPathComponent("broken.nft")
            try "table inet x { set s { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 10.1.0.0/16 } } }\n".write(
                to: broken, atomically: true, encoding: .utf8)
            #expect(try await runProgram(Tools.path("nft") ?? "/usr/sbin/nft", ["-c", "-f", broken.path]).status != 0)
        }
    }

    @Test("a tagged public IP's lock: a rule per port from the region's IPv4 sources, single-port rules admitting more replaced, wider ones reported")
    func publicIPLock() throws {
        let plan = FirewallPlan(regions: Self.regions, central: [CIDR("198.51.100.0/28")!])
        var ip = PublicIpAddress()
        ip.id = "ip-1"
        ip.ipaddress = "203.0.113.5"
        #expect(try plan.publicIPLock(region: 6, ip: ip, rules: []) == nil)
        ip.tags = [ResourceTag(key: FirewallPlan.lockTag, value: "443, 8443")]
        func rule(_ id: String, _ start: Int?, _ end: Int?, _ cidrs: String?, proto: String = "tcp") -> FirewallRule {
            var rule = FirewallRule()
            rule.id = id
            rule.protocolName = proto
            rule.startport = start
            rule.endport = end
            rule.cidrlist = cidrs
            rule.ipaddressid = "ip-1"
            return rule
        }
        let sources = "10.6.0.0/16,192.0.2.66/32,198.51.100.0/28"
        let fresh = try #require(try plan.publicIPLock(region: 6, ip: ip, rules: []))
        #expect(fresh.cidrList == sources && fresh.ports == [443, 8443] && fresh.create == [443, 8443] && fresh.delete.isEmpty)
        let lock = try #require(
            try plan.publicIPLock(
                region: 6, ip: ip,
                rules: [
                    rule("open", 443, 443, "0.0.0.0/0"), rule("narrow", 443, 443, "10.6.7.0/24"), rule("udp", 8443, 8443, "0.0.0.0/0", proto: "udp"),
                    rule("wide", 1, 65535, nil), rule("done", 8443, 8443, sources),
                ]))
        #expect(lock.create == [443] && lock.delete == ["open"])
        #expect(lock.conflicts.count == 2 && lock.conflicts.allSatisfy { $0.hasPrefix("rule wide") })
        #expect(!lock.isLocked)
        let locked = try #require(try plan.publicIPLock(region: 6, ip: ip, rules: [rule("a", 443, 443, sources), rule("b", 8443, nil, sources)]))
        #expect(locked.isLocked)
        ip.tags = [ResourceTag(key: FirewallPlan.lockTag, value: "https")]
        #expect(throws: FederationError.self) { try plan.publicIPLock(region: 6, ip: ip, rules: []) }
        ip.tags = [ResourceTag(key: FirewallPlan.lockTag, value: "443")]
        // Region 3 has no network of its own, but the central service is IPv4: admitted alone.
        #expect(try plan.publicIPLock(region: 3, ip: ip, rules: [])?.cidrList == "198.51.100.0/28")
        let v6Only = FirewallPlan(
            regions: [FederationRegion(id: 9, name: "V6", endpoint: "https://x/client/api", apiKey: "K", networks: ["2001:db8::/32"])], central: [])
        #expect(throws: FederationError.self) { try v6Only.publicIPLock(region: 9, ip: ip, rules: []) }
    }

    @Test("--apply locks the federation account's keys to the listed sources: a signed call from elsewhere gets CloudStack's 401")
    func applyToASimulator() async throws {
        try await withThreeRegions { simulators in
            let simulator = simulators[1]
            try await withTemporaryDirectory { directory in
                let data = directory.appendingPathComponent("data").path
                let added = try await runMClouds(
                    [
                        "region", "add", "--data", data, "--id", "6", "--name", "MECA-TUS", "--endpoint", simulator.endpoint, "--api-key",
                        simulator.adminKeys.apikey!, "--network", "127.0.0.3/32",
                    ], environment: ["MCLOUDS_REGION_SECRET": simulator.adminKeys.secretkey!])
                #expect(added.status == 0, "\(added.stderr)")
                // A public IP fronting a federation service, tagged for locking, open to everyone on 443 today, and a
                // wide rule someone else made; an untagged IP the lock leaves alone.
                let client = client(for: simulator)
                let zone = try #require(try await client.listZones(logger: quietLogger).first?.id)
                let locked = try #require(try await client.associateIpAddress(zoneID: zone, logger: quietLogger).id)
                let untouched = try #require(try await client.associateIpAddress(zoneID: zone, logger: quietLogger).id)
                try await client.createTags(
                    resourceIDs: [locked], resourceType: "PublicIpAddress", tags: [ResourceTag(key: FirewallPlan.lockTag, value: "443,8443")],
                    logger: quietLogger)
                let open = try await client.createFirewallRule(
                    ipAddressID: locked, startPort: 443, endPort: 443, cidrList: ["0.0.0.0/0"], logger: quietLogger)
                let wide = try await client.createFirewallRule(ipAddressID: locked, startPort: 8000, endPort: 9000, logger: quietLogger)
                _ = try await client.createFirewallRule(ipAddressID: untouched, startPort: 443, endPort: 443, logger: quietLogger)
                let applied = try await runMClouds([
                    "security", "firewall", "--format", "cloudstack", "--central", "127.0.0.1", "--data", data, "--apply",
                ])
                #expect(applied.stdout.contains("Applied to region 6"), "\(applied.stdout)\(applied.stderr)")
                // The wide rule is reported (and fails the run), not removed.
                #expect(applied.status == 1 && applied.stderr.contains("rule \(wide.id!)") && applied.stderr.contains("opens locked port 8443"))
                #expect(applied.stdout.contains("2 rules created, 1 wider ones removed"), "\(applied.stdout)")
                let rules = try await client.listFirewallRules(ipAddressID: locked, logger: quietLogger)
                #expect(!rules.contains { $0.id == open.id })
                let exact = rules.filter { $0.id != wide.id }.map { "\($0.startport ?? 0) \($0.cidrlist ?? "")" }.sorted()
                #expect(exact == ["443 127.0.0.1/32,127.0.0.3/32", "8443 127.0.0.1/32,127.0.0.3/32"])
                #expect(try await client.listFirewallRules(ipAddressID: untouched, logger: quietLogger).map(\.cidrlist) == ["0.0.0.0/0"])
                // Once the wide rule is gone, a second run changes nothing and succeeds.
                try await client.deleteFirewallRule(id: wide.id!, logger: quietLogger)
                let again = try await runMClouds([
                    "security", "firewall", "--format", "cloudstack", "--central", "127.0.0.1", "--data", data, "--apply",
                ])
                #expect(again.status == 0 && again.stdout.contains("0 rules created, 0 wider ones removed"), "\(again.stdout)\(again.stderr)")

                let configurations = try await client.list(
                    "listConfigurations", ["name": "api.allowed.source.cidr.list", "accountid": try #require(simulator.adminAccountID)],
                    as: JSONValue.self,
                    logger: quietLogger)
                #expect(configurations.first?["value"]?.stringValue == "127.0.0.1/32,127.0.0.3/32")

                // A signed call: from the central service and the partner's network it passes; from 127.0.0.2 it does not.
                var parameters = ["command": "listZones", "response": "json", "apikey": simulator.adminKeys.apikey!]
                parameters["signature"] = RequestSigner.signature(for: parameters, secretKey: simulator.adminKeys.secretkey!)
                let query = parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\(RequestSigner.javaURLEncode($0.value))" }.joined(separator: "&")
                let port = Int(URL(string: simulator.endpoint)!.port!)
                #expect(try await httpStatus(from: "127.0.0.1", to: "127.0.0.1", port: port, "GET", "/client/api?" + query) == 200)
                #expect(try await httpStatus(from: "127.0.0.3", to: "127.0.0.1", port: port, "GET", "/client/api?" + query) == 200)
                #expect(try await httpStatus(from: "127.0.0.2", to: "127.0.0.1", port: port, "GET", "/client/api?" + query) == 401)

                // Without --central the plan would lock mClouds out: refused.
                let refused = try await runMClouds(["security", "firewall", "--format", "cloudstack", "--data", data, "--apply"])
                #expect(refused.status != 0 && refused.stderr.contains("--central"))
            }
        }
    }
}
