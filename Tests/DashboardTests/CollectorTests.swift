import CloudStack
import CloudStackSimulator
import Core
import Dashboard
import Federation
import Foundation
import TestSupport
import Testing

@Suite("Dashboard collector")
struct CollectorTests {
    /// What the simulator says about itself, read independently of the collector.
    struct Truth {
        var cpuMHz: Int64 = 0
        var memory: Int64 = 0
        var vms = 0
        var running = 0
        var primary = CapacityFigure()
    }

    func truth(_ simulator: Simulator) async throws -> Truth {
        let cs = client(for: simulator)
        var t = Truth()
        for host in try await cs.listHosts(type: "Routing", logger: quietLogger) {
            t.cpuMHz += Int64(host.cpunumber!) * host.cpuspeed!
            t.memory += host.memorytotal!
        }
        let vms = try await cs.listVirtualMachines(logger: quietLogger)
        t.vms = vms.count
        t.running = vms.filter { $0.state == "Running" }.count
        for row in try await cs.listCapacity(type: .storage, logger: quietLogger) {
            t.primary = t.primary + CapacityFigure(used: row.capacityused!, total: row.capacitytotal!)
        }
        return t
    }

    @Test(
        "totals equal the sum of three simulators' real state; a new VM shows after the next collection; a stopped region stays, stale, with its last figures",
        arguments: TestDatabase.available)
    func totalsAndStaleness(backend: TestDatabase) async throws {
        try await withDashboardStores(on: backend) { registry, store in
            try await Simulator.withRunning(simulatorConfiguration(1, "MECA-PolITO", hosts: 3, vms: 5), logger: quietLogger) { a in
                try await Simulator.withRunning(simulatorConfiguration(6, "MECA-TUS", hosts: 5, vms: 2), logger: quietLogger) { b in
                    try await register(a, in: registry)
                    try await register(b, in: registry)
                    var configuration = DashboardCollector.Configuration()
                    configuration.regionTimeout = .seconds(30)  // a loaded machine (tests in parallel, a build) can take seconds per region
                    let collector = DashboardCollector(registry: registry, store: store, configuration: configuration, logger: quietLogger)
                    var lastFigures: RegionSnapshot?

                    try await Simulator.withRunning(simulatorConfiguration(3, "MECA-BME", hosts: 2, vms: 1), logger: quietLogger) { c in
                        try await register(c, in: registry)
                        let report = try await collector.collectNow()
                        #expect(report.regions == 3 && report.failed.isEmpty, "\(report.failed)")
                        var truths: [Truth] = []
                        for s in [a, b, c] { truths.append(try await truth(s)) }
                        var summary = try await collector.summary()
                        #expect(summary.total(.cpu).total == truths.reduce(0) { $0 + $1.cpuMHz })
                        #expect(summary.total(.memory).total == truths.reduce(0) { $0 + $1.memory })
                        #expect(summary.total(.primaryStorage) == truths.reduce(CapacityFigure()) { $0 + $1.primary })
                        #expect(summary.virtualMachines == truths.reduce(0) { $0 + $1.vms } && summary.virtualMachines == 8)
                        #expect(summary.runningVirtualMachines == truths.reduce(0) { $0 + $1.running })
                        #expect(summary.hosts == 10 && summary.hostsUp == 10)
                        #expect(
                            summary.regions.allSatisfy { !$0.stale && $0.health?.reachable == true && $0.health?.cloudStackVersion == "4.18.2.0" })

                        // A VM deployed in one region shows after the next collection.
                        let cs = client(for: c)
                        let zone = try await cs.listZones(logger: quietLogger)[0]
                        let template = try await cs.listTemplates(filter: .featured, logger: quietLogger)[0]
                        let offering = try await cs.listServiceOfferings(logger: quietLogger)[0]
                        let before = summary.total(.memory).used
                        _ = try await cs.deployVirtualMachine(
                            .init(zoneID: zone.id!, templateID: template.id!, serviceOfferingID: offering.id!), logger: quietLogger)
                        try await collector.collectNow()
                        summary = try await collector.summary()
                        #expect(summary.virtualMachines == 9)
                        #expect(summary.total(.memory).used == before + Int64(offering.memory!) * 1_048_576)
                        lastFigures = summary.regions.first { $0.id == 3 }?.snapshot
                    }

                    // MECA-BME stopped: still counted with its last figures, marked stale; the health says why.
                    let report = try await collector.collectNow()
                    #expect(report.failed == ["MECA-BME"])
                    let summary = try await collector.summary()
                    let bme = try #require(summary.regions.first { $0.id == 3 })
                    #expect(bme.stale && bme.snapshot == lastFigures && bme.ageSeconds != nil)
                    #expect(bme.health?.reachable == false && bme.health?.level == .error && bme.health?.lastSuccess == lastFigures?.collected)
                    #expect(summary.staleRegions == ["MECA-BME"] && summary.virtualMachines == 9)
                    let history = try await store.history(since: Date().addingTimeInterval(-3600))
                    #expect(history.map(\.virtualMachines) == [8, 9, 9])
                }
            }
        }
    }

    @Test("templates with mClouds tags are read per region", arguments: TestDatabase.available)
    func taggedTemplates(backend: TestDatabase) async throws {
        try await withDashboardStores(on: backend) { registry, store in
            try await Simulator.withRunning(simulatorConfiguration(1, "MECA-PolITO"), logger: quietLogger) { simulator in
                try await register(simulator, in: registry)
                let cs = client(for: simulator)
                let template = try await cs.listTemplates(filter: .featured, logger: quietLogger)[0]
                try await cs.createTags(
                    resourceIDs: [template.id!], resourceType: "Template",
                    tags: [("mclouds.template", "ubuntu"), ("mclouds.version", "2"), ("mclouds.digest", "abc")].map { key, value in
                        var tag = ResourceTag()
                        tag.key = key
                        tag.value = value
                        return tag
                    }, logger: quietLogger)
                let collector = DashboardCollector(registry: registry, store: store, logger: quietLogger)
                try await collector.collectNow()
                let copies = try #require(try await collector.summary().regions[0].snapshot?.templates)
                #expect(copies.count == 1)
                #expect(copies.map { [$0.template, $0.version, $0.digest ?? "", $0.state] } == [["ubuntu", "2", "abc", "ready"]])
                #expect(copies[0].featured)
            }
        }
    }
}
