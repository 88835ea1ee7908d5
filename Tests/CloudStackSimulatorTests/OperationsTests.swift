import CloudStack
import Core
import Foundation
import Testing

@testable import CloudStackSimulator

@Suite("State file, fault injection and scale")
struct OperationsTests {
    @Test("with a state file a restart keeps VMs, templates, regions and keys")
    func stateFile() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sim-state-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = config()
        c.stateFile = dir.appendingPathComponent("state.json").path
        c.storageDirectory = dir.appendingPathComponent("storage").path
        let (keys, vmID) = try await Simulator.withRunning(c, logger: logger) { sim in
            let cs = makeClient(sim)
            let vm = try await cs.deployVirtualMachine(try await defaultDeployRequest(cs), logger: logger)
            _ = try await cs.addRegion(id: 2, name: "MECA-eWorks", endpoint: "http://127.0.0.1:18082/client", logger: logger)
            return (sim.adminKeys, vm.id!)
        }
        try await Simulator.withRunning(c, logger: logger) { sim in
            #expect(sim.adminKeys == keys)
            let cs = makeClient(sim)
            let vms = try await cs.listVirtualMachines(logger: logger)
            #expect(vms.map(\.id) == [vmID] && vms[0].state == "Running")
            #expect(try await cs.listRegions(logger: logger).count == 2)
            #expect(try await cs.listCapacity(type: .cpu, logger: logger)[0].capacityused == Int64(1000))
        }
        let broken = dir.appendingPathComponent("broken.json")
        try Data("{not json".utf8).write(to: broken)
        c.stateFile = broken.path
        #expect(throws: SimulatorError.self) { try Simulator(configuration: c, logger: logger) }
    }

    @Test("an outage answers 503 to everything until it is switched off")
    func outage() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            var faults = FaultConfiguration()
            faults.outage = true
            sim.setFaults(faults)
            let down = try await rawCall(sim, ["command": "listZones"])
            #expect(down.status == 503)
            sim.setFaults(FaultConfiguration())
            let up = try await rawCall(sim, ["command": "listZones"])
            #expect(up.status == 200)
        }
    }

    @Test("an error rate of 1 for one command fails it with 530 and leaves the others alone")
    func errorRate() async throws {
        var c = config()
        c.faults.errorRate = ["listHosts": 1]
        try await Simulator.withRunning(c, logger: logger) { sim in
            let hosts = try await rawCall(sim, ["command": "listHosts"])
            #expect(hosts.status == 530 && hosts.json?["listhostsresponse"]?["errorcode"]?.intValue == 530)
            #expect(try await rawCall(sim, ["command": "listZones"]).status == 200)
        }
    }

    @Test("a region with 200 hosts and 5,000 VMs answers every page")
    func scale() async throws {
        var c = config()
        c.zones[0].hostCount = 200
        c.zones[0].guestCIDR = "10.1.0.0/16"
        c.seedVirtualMachines = 5_000
        try await Simulator.withRunning(c, logger: logger) { sim in
            let cs = makeClient(sim)
            #expect(try await cs.listHosts(logger: logger).count == 200)
            let vms = try await cs.listVirtualMachines(logger: logger)
            #expect(vms.count == 5_000)
            #expect(Set(vms.compactMap { $0.nic?.first?.ipaddress }).count == 5_000)
            let cpu = try await cs.listCapacity(type: .cpu, logger: logger)[0]
            #expect(cpu.capacityused == Int64(5_000_000))
        }
    }

    @Test("the YAML-style configuration decodes with defaults for what it leaves out")
    func configurationDefaults() throws {
        let json = #"{"regionName":"MECA-BME","zones":[{"name":"Z","hostCount":2}],"faults":{"outage":true}}"#
        let c = try JSONDecoder().decode(SimulatorConfiguration.self, from: Data(json.utf8))
        #expect(c.regionName == "MECA-BME" && c.zones[0].hostCount == 2 && c.zones[0].hostCPUCores == 32)
        #expect(c.serviceOfferings.count == 3 && c.faults.outage && c.faults.latencyMilliseconds == 0)
    }
}
