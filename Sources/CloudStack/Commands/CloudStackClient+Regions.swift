import Core
import Logging

extension CloudStackClient {
    /// `listRegions`: the installation's regions table.
    public func listRegions(logger: Logger) async throws -> [Region] {
        try await list("listRegions", as: Region.self, logger: logger)
    }

    /// `addRegion` (admin).
    public func addRegion(id: Int, name: String, endpoint: String, logger: Logger) async throws -> Region {
        try await callObject("addRegion", ["id": String(id), "name": name, "endpoint": endpoint], as: Region.self, logger: logger)
    }

    /// `updateRegion` (admin).
    public func updateRegion(id: Int, name: String? = nil, endpoint: String? = nil, logger: Logger) async throws -> Region {
        var p: Parameters = ["id": String(id)]
        p["name"] = name
        p["endpoint"] = endpoint
        return try await callObject("updateRegion", p.values, as: Region.self, logger: logger)
    }

    /// `removeRegion` (admin).
    public func removeRegion(id: Int, logger: Logger) async throws {
        _ = try await call("removeRegion", ["id": String(id)], as: SuccessResponse.self, logger: logger)
    }
}
