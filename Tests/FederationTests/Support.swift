import CloudStack
import CloudStackSimulator
import Core
import Federation
import Foundation
import Logging
import Storage
import TestSupport

var quietLogger: Logger {
    var logger = Logger(label: "test.federation")
    logger.logLevel = .critical
    return logger
}

/// A registry in a fresh database (a SQLite file, or a PostgreSQL database of the test cluster).
func withRegistry<T>(on backend: TestDatabase = .sqlite, _ body: (RegionRegistry, any SQLStore, URL) async throws -> T) async throws -> T {
    try await withTemporaryDirectory { directory in
        let store = try await backend.open(in: directory, migrations: [])
        let registry = try await RegionRegistry.open(
            database: store, secrets: try SecretBox.open(keyFile: directory.appendingPathComponent("keys/secrets.key").path))
        return try await body(registry, store, directory)
    }
}

/// The alliance's three regions as simulators (ids 1, 6, 3), running for the duration of `body`.
func withThreeRegions<T: Sendable>(_ body: ([Simulator]) async throws -> T) async throws -> T {
    func configuration(_ id: Int, _ name: String) -> SimulatorConfiguration {
        var c = SimulatorConfiguration.default(regionName: name)
        c.regionID = id
        return c
    }
    return try await Simulator.withRunning(configuration(1, "MECA-PolITO"), logger: quietLogger) { a in
        try await Simulator.withRunning(configuration(6, "MECA-TUS"), logger: quietLogger) { b in
            try await Simulator.withRunning(configuration(3, "MECA-BME"), logger: quietLogger) { c in
                try await body([a, b, c])
            }
        }
    }
}

func region(for simulator: Simulator) -> FederationRegion {
    FederationRegion(
        id: simulator.configuration.regionID, name: simulator.configuration.regionName, endpoint: simulator.endpoint,
        apiKey: simulator.adminKeys.apikey!)
}

func client(for simulator: Simulator) -> CloudStackClient {
    CloudStackClient(
        configuration: .init(endpoint: simulator.endpoint, apiKey: simulator.adminKeys.apikey!, secretKey: simulator.adminKeys.secretkey!))
}
