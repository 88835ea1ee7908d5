import AsyncHTTPClient
import CloudStack
import CloudStackSimulator
import Core
import Foundation
import Logging
import Testing

#if canImport(Glibc)
    import Glibc
#endif

let testLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    return logger
}()

func fastConfiguration(_ name: String = "Test-Region") -> SimulatorConfiguration {
    var c = SimulatorConfiguration.default(regionName: name)
    c.jobDurationMilliseconds = 50
    c.allocationAlgorithm = .firstfit
    return c
}

func client(for simulator: Simulator, tweak: (inout CloudStackClient.Configuration) -> Void = { _ in }) -> CloudStackClient {
    let keys = simulator.adminKeys
    var c = CloudStackClient.Configuration(
        endpoint: simulator.endpoint, apiKey: keys.apikey!, secretKey: keys.secretkey!, region: simulator.configuration.regionName)
    c.jobPollInitial = .milliseconds(20)
    c.retryBaseDelay = .milliseconds(10)
    tweak(&c)
    return CloudStackClient(configuration: c)
}

@Suite("CloudStack client against the simulator over a real socket")
struct CloudStackClientTests {
    @Test("lists zones, offerings, OS types, networks and the built-in template")
    func basics() async throws {
        try await Simulator.withRunning(fastConfiguration(), logger: testLogger) { sim in
            let cs = client(for: sim)
            let zones = try await cs.listZones(logger: testLogger)
            #expect(zones.count == 1)
            #expect(try await cs.listServiceOfferings(logger: testLogger).map(\.name) == ["Small Instance", "Medium Instance", "Large Instance"])
            #expect(try await cs.listOsTypes(description: "Ubuntu 22.04", logger: testLogger).first?.description == "Ubuntu 22.04 LTS")
            #expect(try await cs.listNetworks(zoneID: zones[0].id, logger: testLogger).count == 1)
            let featured = try await cs.listTemplates(filter: .featured, logger: testLogger)
            #expect(featured.count == 1 && featured[0].isready == true && featured[0].status == "Download Complete")
            #expect(try await cs.listCapabilities(logger: testLogger).cloudstackversion == "4.18.2.0")
            #expect(try await cs.listApis(logger: testLogger).contains { $0.name == "deployVirtualMachine" && $0.isasync == true })
            #expect(try await cs.listRegions(logger: testLogger).first?.name == "Test-Region")
        }
    }

    @Test("paging brings back thousands of items whole")
    func paging() async throws {
        var config = fastConfiguration()
        config.seedVirtualMachines = 1_234
        config.zones[0].guestCIDR = "10.1.0.0/16"
        try await Simulator.withRunning(config, logger: testLogger) { sim in
            let cs = client(for: sim) { $0.pageSize = 100 }
            let vms = try await cs.listVirtualMachines(logger: testLogger)
            #expect(vms.count == 1_234)
            #expect(Set(vms.compactMap(\.id)).count == 1_234)
        }
    }

    @Test("deploy, stop, start and destroy run as async jobs polled to the end")
    func vmLifecycle() async throws {
        try await Simulator.withRunning(fastConfiguration(), logger: testLogger) { sim in
            let cs = client(for: sim)
            let zone = try #require(try await cs.listZones(logger: testLogger).first)
            let template = try #require(try await cs.listTemplates(filter: .featured, logger: testLogger).first)
            let offering = try #require(try await cs.listServiceOfferings(logger: testLogger).first)
            var request = DeployVirtualMachineRequest(zoneID: zone.id!, templateID: template.id!, serviceOfferingID: offering.id!)
            request.name = "lab-01"
            request.userData = Data(String(repeating: "#cloud-config\n", count: 600).utf8).base64EncodedString()
            let vm = try await cs.deployVirtualMachine(request, logger: testLogger)
            #expect(vm.state == "Running" && vm.name == "lab-01" && vm.hostid != nil)
            #expect(try await cs.stopVirtualMachine(id: vm.id!, logger: testLogger).state == "Stopped")
            #expect(try await cs.startVirtualMachine(id: vm.id!, logger: testLogger).state == "Running")
            #expect(try await cs.destroyVirtualMachine(id: vm.id!, expunge: true, logger: testLogger).state == "Expunging")
            #expect(try await cs.listVirtualMachines(logger: testLogger).isEmpty)
        }
    }

    @Test("API errors carry command, region, HTTP status, errorcode, cserrorcode and errortext")
    func typedErrors() async throws {
        try await Simulator.withRunning(fastConfiguration(), logger: testLogger) { sim in
            let cs = client(for: sim)
            do {
                _ = try await cs.call("listTemplates", [:], logger: testLogger)
                Issue.record("expected an error")
            } catch let error as CloudStackError {
                #expect(error.command == "listTemplates")
                #expect(error.region == "Test-Region")
                #expect(error.httpStatus == 431 && error.errorCode == 431 && error.csErrorCode == 9999)
                #expect(error.errorText == "Unable to execute API command listtemplates due to missing parameter templatefilter")
            }
            let wrong = client(for: sim) { $0.secretKey = "wrong" }
            await #expect(throws: CloudStackError.self) { try await wrong.listZones(logger: testLogger) }
            do {
                _ = try await wrong.listZones(logger: testLogger)
            } catch let error as CloudStackError {
                #expect(error.isAuthenticationFailure && error.errorCode == 401 && error.csErrorCode == nil)
                #expect(error.description.contains("API key and secret key"))
            }
        }
    }

    @Test("a failed async job surfaces the job's errorcode and text")
    func jobFailure() async throws {
        var config = fastConfiguration()
        config.zones[0].hostCount = 1
        config.zones[0].hostCPUCores = 2
        config.zones[0].hostCPUSpeedMHz = 1000
        try await Simulator.withRunning(config, logger: testLogger) { sim in
            let cs = client(for: sim)
            let zone = try #require(try await cs.listZones(logger: testLogger).first)
            let template = try #require(try await cs.listTemplates(filter: .featured, logger: testLogger).first)
            let large = try #require(try await cs.listServiceOfferings(name: "Large Instance", logger: testLogger).first)
            do {
                _ = try await cs.deployVirtualMachine(
                    .init(zoneID: zone.id!, templateID: template.id!, serviceOfferingID: large.id!), logger: testLogger)
                Issue.record("expected insufficient capacity")
            } catch let error as CloudStackError {
                #expect(error.errorCode == 533)
                #expect(error.errorText.contains("Insufficient capacity"))
            }
        }
    }

    @Test("reads to a dead endpoint are retried, then fail as never having reached the server")
    func retriesUnreachable() async throws {
        // A bound but not listening socket: connections are refused, and no other test can take the port meanwhile.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        var c = CloudStackClient.Configuration(endpoint: "http://127.0.0.1:\(port)/client/api", apiKey: "k", secretKey: "s", region: "Gone")
        c.retryBaseDelay = .milliseconds(5)
        c.maxAttempts = 3
        let cs = CloudStackClient(configuration: c)
        let started = ContinuousClock.now
        do {
            _ = try await cs.listZones(logger: testLogger)
            Issue.record("expected a transport error")
        } catch let error as CloudStackError {
            #expect(error.requestNeverReachedServer)
            #expect(error.isTransportFailure)
            #expect(error.region == "Gone")
        }
        // Three attempts with backoff of at least 5 ms + 10 ms between them.
        #expect(ContinuousClock.now - started >= .milliseconds(15))
    }

    @Test("writes are not retried after a server error, reads are")
    func retryPolicy() async throws {
        var config = fastConfiguration()
        config.faults.outage = true
        try await Simulator.withRunning(config, logger: testLogger) { sim in
            let cs = client(for: sim) { $0.maxAttempts = 3 }
            await #expect(throws: CloudStackError.self) { try await cs.listZones(logger: testLogger) }
            do {
                _ = try await cs.call("addRegion", ["id": "9", "name": "x", "endpoint": "http://127.0.0.1/client"], logger: testLogger)
            } catch let error as CloudStackError {
                #expect(error.httpStatus == 503 && error.isServerUnavailable)
            }
            #expect(sim.requestCount(for: "listZones") == 3)
            #expect(sim.requestCount(for: "addRegion") == 1)
            sim.setFaults(FaultConfiguration())
            #expect(try await cs.listZones(logger: testLogger).count == 1)
        }
    }

    @Test("a job still pending at the deadline gives jobTimedOut")
    func jobTimeout() async throws {
        var config = fastConfiguration()
        config.jobDurationMilliseconds = 60_000
        try await Simulator.withRunning(config, logger: testLogger) { sim in
            let cs = client(for: sim) { $0.jobTimeout = .milliseconds(300) }
            let zone = try #require(try await cs.listZones(logger: testLogger).first)
            let template = try #require(try await cs.listTemplates(filter: .featured, logger: testLogger).first)
            let offering = try #require(try await cs.listServiceOfferings(logger: testLogger).first)
            do {
                _ = try await cs.deployVirtualMachine(
                    .init(zoneID: zone.id!, templateID: template.id!, serviceOfferingID: offering.id!), logger: testLogger)
                Issue.record("expected a timeout")
            } catch let error as CloudStackError {
                #expect(error.description.contains("did not finish"))
            }
        }
    }
}
