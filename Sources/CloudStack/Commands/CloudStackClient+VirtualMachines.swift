import Core
import Logging

/// The parameters of `deployVirtualMachine`.
public struct DeployVirtualMachineRequest: Sendable {
    public var zoneID: String
    public var templateID: String
    public var serviceOfferingID: String
    public var name: String?
    public var displayName: String?
    public var networkIDs: [String] = []
    public var account: String?
    public var domainID: String?
    public var keypair: String?
    /// Base64 user data; sent by POST.
    public var userData: String?
    public var startVM: Bool?
    public var hostID: String?
    public var group: String?
    /// The root disk's size in GiB, when larger than the template's (`rootdisksize`).
    public var rootDiskSizeGiB: Int?

    /// A request with the three required parameters.
    public init(zoneID: String, templateID: String, serviceOfferingID: String) {
        self.zoneID = zoneID
        self.templateID = templateID
        self.serviceOfferingID = serviceOfferingID
    }

    var parameters: Parameters {
        var p: Parameters = ["zoneid": zoneID, "templateid": templateID, "serviceofferingid": serviceOfferingID]
        p["name"] = name
        p["displayname"] = displayName
        p.set("networkids", list: networkIDs)
        p["account"] = account
        p["domainid"] = domainID
        p["keypair"] = keypair
        p["userdata"] = userData
        p.set("startvm", startVM)
        p["hostid"] = hostID
        p["group"] = group
        p["rootdisksize"] = rootDiskSizeGiB.map(String.init)
        return p
    }
}

extension CloudStackClient {
    /// `listVirtualMachines` (all pages; `listall=true` so an admin sees every account's VMs), of those VMs that
    /// carry every tag in `tags`.
    public func listVirtualMachines(
        zoneID: String? = nil, templateID: String? = nil, state: String? = nil, id: String? = nil, name: String? = nil,
        tags: [ResourceTag] = [], logger: Logger
    ) async throws -> [VirtualMachine] {
        var p: Parameters = ["listall": "true"]
        p.set("tags", tags: tags)
        p["name"] = name
        p["zoneid"] = zoneID
        p["templateid"] = templateID
        p["state"] = state
        p["id"] = id
        return try await list("listVirtualMachines", p.values, as: VirtualMachine.self, logger: logger)
    }

    /// `deployVirtualMachine`, waiting for the job. Fails with errorcode 533 when the zone has no capacity.
    public func deployVirtualMachine(_ request: DeployVirtualMachineRequest, logger: Logger) async throws -> VirtualMachine {
        try await run("deployVirtualMachine", request.parameters.values, resultAs: VirtualMachine.self, logger: logger)
    }

    /// `startVirtualMachine`, waiting for the job.
    public func startVirtualMachine(id: String, logger: Logger) async throws -> VirtualMachine {
        try await run("startVirtualMachine", ["id": id], resultAs: VirtualMachine.self, logger: logger)
    }

    /// `stopVirtualMachine`, waiting for the job.
    public func stopVirtualMachine(id: String, forced: Bool = false, logger: Logger) async throws -> VirtualMachine {
        var p: Parameters = ["id": id]
        if forced { p.set("forced", true) }
        return try await run("stopVirtualMachine", p.values, resultAs: VirtualMachine.self, logger: logger)
    }

    /// `destroyVirtualMachine`; with `expunge` the VM and its resources are freed at once.
    public func destroyVirtualMachine(id: String, expunge: Bool = false, logger: Logger) async throws -> VirtualMachine {
        var p: Parameters = ["id": id]
        p.set("expunge", expunge)
        return try await run("destroyVirtualMachine", p.values, resultAs: VirtualMachine.self, logger: logger)
    }

    /// `createConsoleEndpoint` (4.18+): a URL for the VM's console.
    public func createConsoleEndpoint(virtualMachineID: String, logger: Logger) async throws -> ConsoleEndpoint {
        try await callObject("createConsoleEndpoint", ["virtualmachineid": virtualMachineID], as: ConsoleEndpoint.self, logger: logger)
    }
}
