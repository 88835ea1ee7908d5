import AsyncHTTPClient
import CloudStack
import Core
import Foundation
import HummingbirdWSClient
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import CloudStackSimulator

@Suite("Regions, tags, addresses, rules and consoles")
struct NetworkingTests {
    @Test("the regions table: add, update, remove, with CloudStack's duplicate errors")
    func regions() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let cs = makeClient(sim)
            let added = try await cs.addRegion(id: 6, name: "MECA-TUS", endpoint: "http://127.0.0.1:18086/client", logger: logger)
            #expect(added.id == 6 && added.gslbserviceenabled == true && added.portableipserviceenabled == false)
            for (id, name, text) in [(6, "other", "Region with id: 6 already exists"), (7, "MECA-TUS", "Region with name: MECA-TUS already exists")] {
                do {
                    _ = try await cs.addRegion(id: id, name: name, endpoint: "http://127.0.0.1/client", logger: logger)
                    Issue.record("expected \(text)")
                } catch let error as CloudStackError {
                    #expect(error.errorCode == 431 && error.errorText == text)
                }
            }
            #expect(
                try await cs.updateRegion(id: 6, endpoint: "http://127.0.0.1:28086/client", logger: logger).endpoint
                    == "http://127.0.0.1:28086/client")
            try await cs.removeRegion(id: 6, logger: logger)
            #expect(try await cs.listRegions(logger: logger).map(\.id) == [1])
            await #expect(throws: CloudStackError.self) { try await cs.removeRegion(id: 6, logger: logger) }
        }
    }

    @Test("tags are created, listed, filter templates, embed in resources and are deleted")
    func tags() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let cs = makeClient(sim)
            let t = try await cs.listTemplates(filter: .featured, logger: logger)[0]
            try await cs.createTags(
                resourceIDs: [t.id!], resourceType: "template",
                tags: [.init(key: "mclouds.template", value: "base"), .init(key: "mclouds.version", value: "1")],
                logger: logger)
            let tags = try await cs.listTags(resourceType: "Template", logger: logger)
            #expect(tags.count == 2 && tags.allSatisfy { $0.resourcetype == "Template" && $0.resourceid == t.id })
            #expect(try await cs.listTemplates(filter: .all, tags: [.init(key: "mclouds.version", value: "1")], logger: logger).count == 1)
            #expect(try await cs.listTemplates(filter: .all, tags: [.init(key: "mclouds.version", value: "2")], logger: logger).isEmpty)
            #expect(try await cs.listTemplates(filter: .all, id: t.id, logger: logger)[0].tags?.count == 2)
            try await cs.deleteTags(resourceIDs: [t.id!], resourceType: "Template", tags: [.init(key: "mclouds.version", value: "")], logger: logger)
            #expect(try await cs.listTags(logger: logger).map(\.key) == ["mclouds.template"])
            // VMs are listed by their tags too: only those carrying every tag asked for.
            let zone = try await cs.listZones(logger: logger)[0]
            let offering = try await cs.listServiceOfferings(logger: logger)[0]
            var vms: [String] = []
            for _ in 0..<3 {
                vms.append(
                    try await cs.deployVirtualMachine(.init(zoneID: zone.id!, templateID: t.id!, serviceOfferingID: offering.id!), logger: logger).id!
                )
            }
            try await cs.createTags(
                resourceIDs: Array(vms.prefix(2)), resourceType: "UserVm", tags: [.init(key: "mclouds.booking", value: "b-1")], logger: logger)
            try await cs.createTags(resourceIDs: [vms[0]], resourceType: "UserVm", tags: [.init(key: "mclouds.seat", value: "0")], logger: logger)
            let booking = ResourceTag(key: "mclouds.booking", value: "b-1")
            #expect(Set(try await cs.listVirtualMachines(tags: [booking], logger: logger).compactMap(\.id)) == Set(vms.prefix(2)))
            #expect(
                try await cs.listVirtualMachines(tags: [booking, .init(key: "mclouds.seat", value: "0")], logger: logger).compactMap(\.id) == [vms[0]]
            )
            #expect(try await cs.listVirtualMachines(tags: [.init(key: "mclouds.booking", value: "b-2")], logger: logger).isEmpty)
            #expect(try await cs.listVirtualMachines(logger: logger).count == 3)
            let bad = try await rawCall(
                sim, ["command": "createTags", "resourceids": t.id!, "resourcetype": "Spaceship", "tags[0].key": "a", "tags[0].value": "b"])
            #expect(bad.status == 431 && bad.description == "Invalid resource type Spaceship")
        }
    }

    @Test("a public IP, a port-forwarding rule to a VM, a conflict, a firewall rule and a console endpoint")
    func portForwarding() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let cs = makeClient(sim)
            let zone = try await cs.listZones(logger: logger)[0]
            let network = try await cs.listNetworks(zoneID: zone.id, logger: logger)[0]
            let template = try await cs.listTemplates(filter: .featured, logger: logger)[0]
            let offering = try await cs.listServiceOfferings(logger: logger)[0]
            let vm = try await cs.deployVirtualMachine(
                .init(zoneID: zone.id!, templateID: template.id!, serviceOfferingID: offering.id!), logger: logger)
            let ip = try await cs.associateIpAddress(networkID: network.id, logger: logger)
            #expect(ip.state == "Allocated" && ip.associatednetworkid == network.id && ip.ipaddress?.hasPrefix("127.") == true)
            let rule = try await cs.createPortForwardingRule(
                ipAddressID: ip.id!, publicPort: 2201, privatePort: 22, virtualMachineID: vm.id!, cidrList: ["198.51.100.0/24"], logger: logger)
            #expect(rule.publicport == "2201" && rule.privateport == "22" && rule.state == "Active" && rule.vmguestip == vm.nic?.first?.ipaddress)
            do {
                _ = try await cs.createPortForwardingRule(
                    ipAddressID: ip.id!, publicPort: 2201, privatePort: 23, virtualMachineID: vm.id!, logger: logger)
                Issue.record("expected a conflict")
            } catch let error as CloudStackError {
                #expect(error.errorCode == 537)
            }
            #expect(try await cs.listPortForwardingRules(ipAddressID: ip.id!, logger: logger).count == 1)
            #expect(try await cs.listPublicIpAddresses(logger: logger).count == 2)
            let fw = try await cs.createFirewallRule(
                ipAddressID: ip.id!, startPort: 3389, endPort: 3389, cidrList: ["198.51.100.0/24"], logger: logger)
            #expect(fw.cidrlist == "198.51.100.0/24" && fw.startport == 3389)
            let console = try await cs.createConsoleEndpoint(virtualMachineID: vm.id!, logger: logger)
            #expect(console.success == true && console.url?.hasPrefix(sim.baseURL) == true && console.websocket?.token != nil)
            // The console URL is served, and its websocket speaks RFB once for the token.
            let token = try #require(console.websocket?.token)
            let page = try await HTTPClient.shared.execute(HTTPClientRequest(url: try #require(console.url)), timeout: .seconds(60))
            #expect(page.status == .ok)
            #expect(String(buffer: try await page.body.collect(upTo: 1 << 16)).contains(vm.name ?? vm.id!))
            let forged = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: sim.baseURL + "/resource/noVNC/vnc.html?token=forged"), timeout: .seconds(60))
            #expect(forged.status == .forbidden)
            let socketURL = "ws://127.0.0.1:\(sim.port ?? 0)/websockify?token=\(token)"
            let heard = Mutex<[String]>([])
            try await WebSocketClient.connect(url: socketURL, logger: logger) { inbound, outbound, _ in
                var messages = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
                if case .binary(let version) = try await messages.next() { heard.withLock { $0.append(String(buffer: version)) } }
                try await outbound.write(.binary(ByteBuffer(string: "RFB 003.008\n")))
                if case .binary(let types) = try await messages.next() { heard.withLock { $0.append(Array(types.readableBytesView).description) } }
            }
            #expect(heard.withLock { $0 } == ["RFB 003.008\n", "[1, 1]"])
            // The session is used up: the same token opens nothing again.
            await #expect(throws: (any Error).self) {
                try await WebSocketClient.connect(url: socketURL, logger: logger) { _, _, _ in }
            }
            _ = try await cs.stopVirtualMachine(id: vm.id!, logger: logger)
            #expect(try await cs.createConsoleEndpoint(virtualMachineID: vm.id!, logger: logger).success == false)
        }
    }
}
