import Core
import Logging

extension CloudStackClient {
    /// `listZones`: every zone, all pages.
    public func listZones(id: String? = nil, name: String? = nil, logger: Logger) async throws -> [Zone] {
        var p: Parameters = [:]
        p["id"] = id
        p["name"] = name
        return try await list("listZones", p.values, as: Zone.self, logger: logger)
    }

    /// `listHosts` (admin): hosts, optionally of one zone and type (`Routing` for hypervisors).
    public func listHosts(zoneID: String? = nil, type: String? = nil, id: String? = nil, logger: Logger) async throws -> [ComputeHost] {
        var p: Parameters = [:]
        p["zoneid"] = zoneID
        p["type"] = type
        p["id"] = id
        return try await list("listHosts", p.values, as: ComputeHost.self, logger: logger)
    }

    /// `listCapacity` (admin): capacity by type, per zone (or per pod/cluster when asked).
    public func listCapacity(zoneID: String? = nil, type: CapacityType? = nil, logger: Logger) async throws -> [Capacity] {
        var p: Parameters = [:]
        p["zoneid"] = zoneID
        p.set("type", type?.rawValue)
        return try await list("listCapacity", p.values, as: Capacity.self, logger: logger)
    }

    /// `listServiceOfferings`.
    public func listServiceOfferings(name: String? = nil, id: String? = nil, logger: Logger) async throws -> [ServiceOffering] {
        var p: Parameters = [:]
        p["name"] = name
        p["id"] = id
        return try await list("listServiceOfferings", p.values, as: ServiceOffering.self, logger: logger)
    }

    /// `listOsTypes`, optionally filtered by exact description (`Ubuntu 22.04 LTS`).
    public func listOsTypes(description: String? = nil, id: String? = nil, logger: Logger) async throws -> [OsType] {
        var p: Parameters = [:]
        p["description"] = description
        p["id"] = id
        return try await list("listOsTypes", p.values, as: OsType.self, logger: logger)
    }

    /// `listNetworks`.
    public func listNetworks(zoneID: String? = nil, id: String? = nil, logger: Logger) async throws -> [Network] {
        var p: Parameters = [:]
        p["zoneid"] = zoneID
        p["id"] = id
        return try await list("listNetworks", p.values, as: Network.self, logger: logger)
    }

    /// `listVolumes`.
    public func listVolumes(virtualMachineID: String? = nil, type: String? = nil, logger: Logger) async throws -> [Volume] {
        var p: Parameters = [:]
        p["virtualmachineid"] = virtualMachineID
        p["type"] = type
        return try await list("listVolumes", p.values, as: Volume.self, logger: logger)
    }

    /// `listCapabilities`: the server's version and feature switches.
    public func listCapabilities(logger: Logger) async throws -> Capabilities {
        try await callObject("listCapabilities", as: Capabilities.self, logger: logger)
    }

    /// `listApis`: the APIs the caller may use, with parameters and response fields.
    public func listApis(name: String? = nil, logger: Logger) async throws -> [ApiDescription] {
        var p: Parameters = [:]
        p["name"] = name
        return try await call("listApis", p.values, as: ListPage<ApiDescription>.self, logger: logger).items
    }

    /// `queryAsyncJobResult`: one poll of a job.
    public func queryAsyncJobResult(jobID: String, logger: Logger) async throws -> AsyncJob {
        try await call("queryAsyncJobResult", ["jobid": jobID], as: AsyncJob.self, logger: logger)
    }
}
