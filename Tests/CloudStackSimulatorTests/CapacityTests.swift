import CloudStack
import Core
import Foundation
import Testing

@testable import CloudStackSimulator

@Suite("Capacity moves as VMs come and go")
struct CapacityTests {
    func capacity(_ cs: CloudStackClient, _ type: CapacityType) async throws -> Capacity {
        try #require(try await cs.listCapacity(type: type, logger: logger).first)
    }

    @Test("listCapacity reports every type with totals from the hosts and CloudStack's names")
    func types() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let cs = makeClient(sim)
            let rows = try await cs.listCapacity(logger: logger)
            #expect(Set(rows.compactMap(\.type)) == [0, 1, 2, 3, 4, 5, 6, 90])
            let cpu = try await capacity(cs, .cpu)
            #expect(cpu.name == "CPU" && cpu.capacitytotal == 4 * 32 * 2400 && cpu.capacityused == 0 && cpu.percentused == "0")
            let memory = try await capacity(cs, .memory)
            #expect(memory.capacitytotal == Int64(4) << 38)
            #expect(try await capacity(cs, .virtualNetworkPublicIP).capacityused == Int64(1))
        }
    }

    @Test("a deployed VM holds its offering's CPU and memory; stopped it is reserved; expunged it is freed")
    func deployStopDestroy() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let cs = makeClient(sim)
            let zone = try await cs.listZones(logger: logger)[0]
            let template = try await cs.listTemplates(filter: .featured, logger: logger)[0]
            let medium = try #require(try await cs.listServiceOfferings(name: "Medium Instance", logger: logger).first)
            let vm = try await cs.deployVirtualMachine(
                .init(zoneID: zone.id!, templateID: template.id!, serviceOfferingID: medium.id!), logger: logger)
            var cpu = try await capacity(cs, .cpu)
            #expect(cpu.capacityused == Int64(2000))
            #expect(try await capacity(cs, .memory).capacityused == Int64(4096) << 20)
            #expect(try await capacity(cs, .cpuCore).capacityused == Int64(2))
            let host = try #require(try await cs.listHosts(id: vm.hostid, logger: logger).first)
            #expect(host.memoryallocated == 4096 << 20 && host.cpuallocatedvalue == 2000)
            _ = try await cs.stopVirtualMachine(id: vm.id!, logger: logger)
            cpu = try await capacity(cs, .cpu)
            #expect(cpu.capacityused == 0 && cpu.capacityallocated == 2000)
            _ = try await cs.destroyVirtualMachine(id: vm.id!, expunge: true, logger: logger)
            cpu = try await capacity(cs, .cpu)
            #expect(cpu.capacityused == 0 && cpu.capacityallocated == 0)
            #expect(try await capacity(cs, .storage).capacityused == Int64(0))
        }
    }

    @Test("a full zone fails deploys with 533 and a destroy makes room again")
    func fullZone() async throws {
        var c = config()
        c.zones[0].hostCount = 2
        c.zones[0].hostCPUCores = 4
        c.zones[0].hostCPUSpeedMHz = 1000
        c.zones[0].hostMemoryGiB = 64
        try await Simulator.withRunning(c, logger: logger) { sim in
            let cs = makeClient(sim)
            let zone = try await cs.listZones(logger: logger)[0]
            let template = try await cs.listTemplates(filter: .featured, logger: logger)[0]
            let medium = try #require(try await cs.listServiceOfferings(name: "Medium Instance", logger: logger).first)
            let request = DeployVirtualMachineRequest(zoneID: zone.id!, templateID: template.id!, serviceOfferingID: medium.id!)
            var ids: [String] = []
            for _ in 0..<4 { ids.append(try await cs.deployVirtualMachine(request, logger: logger).id!) }
            #expect(Set(try await cs.listVirtualMachines(logger: logger).compactMap(\.hostid)).count == 2)
            do {
                _ = try await cs.deployVirtualMachine(request, logger: logger)
                Issue.record("the zone should be full")
            } catch let error as CloudStackError {
                #expect(error.errorCode == 533)
                #expect(error.csErrorCode == 4335)
            }
            #expect(try await cs.listVirtualMachines(state: "Error", logger: logger).count == 1)
            #expect(try await capacity(cs, .cpu).percentused == "100")
            _ = try await cs.destroyVirtualMachine(id: ids[0], expunge: true, logger: logger)
            #expect(try await cs.deployVirtualMachine(request, logger: logger).state == "Running")
        }
    }

    @Test("first fit fills hosts in order; random spreads over every host")
    func allocators() async throws {
        var c = config()
        c.zones[0].hostCount = 3
        try await Simulator.withRunning(c, logger: logger) { sim in
            let cs = makeClient(sim)
            let zone = try await cs.listZones(logger: logger)[0]
            let template = try await cs.listTemplates(filter: .featured, logger: logger)[0]
            let small = try await cs.listServiceOfferings(logger: logger)[0]
            let first = try await cs.listHosts(logger: logger)[0]
            for _ in 0..<3 {
                let vm = try await cs.deployVirtualMachine(
                    .init(zoneID: zone.id!, templateID: template.id!, serviceOfferingID: small.id!), logger: logger)
                #expect(vm.hostid == first.id)
            }
        }
        c.allocationAlgorithm = .random
        try await Simulator.withRunning(c, logger: logger) { sim in
            let cs = makeClient(sim)
            let zone = try await cs.listZones(logger: logger)[0]
            let template = try await cs.listTemplates(filter: .featured, logger: logger)[0]
            let small = try await cs.listServiceOfferings(logger: logger)[0]
            var used = Set<String>()
            for _ in 0..<30 {
                used.insert(
                    try await cs.deployVirtualMachine(.init(zoneID: zone.id!, templateID: template.id!, serviceOfferingID: small.id!), logger: logger)
                        .hostid!)
            }
            #expect(used.count == 3)
        }
    }

    @Test("percentused is formatted like DecimalFormat(\"##.##\")")
    func percentFormat() {
        #expect(World.percentString(used: 0, total: 10) == "0")
        #expect(World.percentString(used: 1, total: 3) == "33.33")
        #expect(World.percentString(used: 1, total: 2) == "50")
        #expect(World.percentString(used: 4241, total: 10000) == "42.41")
        #expect(World.percentString(used: 1, total: 0) == "0")
    }
}
