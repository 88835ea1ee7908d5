import CloudStack
import Core
import Federation
import Foundation
import SQLKit
import Storage
import TestSupport
import Testing

@Suite("Federation registry")
struct RegistryTests {
    @Test(
        "regions are added, listed, shown by id or name, updated and removed; duplicates and bad fields are refused with the field named",
        arguments: TestDatabase.available)
    func crud(backend: TestDatabase) async throws {
        try await withRegistry(on: backend) { registry, _, _ in
            let tus = FederationRegion(id: 6, name: "MECA-TUS", endpoint: "https://cloud.tus.example/client/api", apiKey: "K6", contact: "ops@tus")
            try await registry.add(tus, secretKey: "S6")
            try await registry.add(
                FederationRegion(id: 1, name: "MECA-PolITO", endpoint: "http://127.0.0.1:1/client/api", apiKey: "K1"), secretKey: "S1")
            #expect(try await registry.list().map(\.id) == [1, 6])
            #expect(try await registry.region("MECA-TUS") == tus)
            #expect(try await registry.region("6") == tus)
            #expect(try await registry.credentials(6) == ("K6", "S6"))

            let sameID = await #expect(throws: FederationError.self) {
                try await registry.add(FederationRegion(id: 6, name: "Other", endpoint: "https://x.example/client/api", apiKey: "K"), secretKey: "S")
            }
            #expect(sameID?.kind == .conflict && "\(sameID!)".contains("id 6"))
            let sameName = await #expect(throws: FederationError.self) {
                try await registry.add(
                    FederationRegion(id: 7, name: "MECA-TUS", endpoint: "https://x.example/client/api", apiKey: "K"), secretKey: "S")
            }
            #expect(sameName?.kind == .conflict)
            let badURL = await #expect(throws: FederationError.self) {
                try await registry.add(FederationRegion(id: 8, name: "X", endpoint: "ftp://x", apiKey: "K"), secretKey: "S")
            }
            #expect(badURL?.kind == .invalid && "\(badURL!)".contains("Endpoint"))
            await #expect(throws: FederationError.self) {
                try await registry.add(FederationRegion(id: 0, name: "Zero", endpoint: "https://x.example/client/api", apiKey: "K"), secretKey: "S")
            }

            let updated = try await registry.update(6, .init(name: "MECA-TUS-Athlone", secretKey: "S6b", notes: "moved"))
            #expect(updated.name == "MECA-TUS-Athlone" && updated.notes == "moved" && updated.contact == "ops@tus")
            #expect(try await registry.credentials(6) == ("K6", "S6b"))
            await #expect(throws: FederationError.self) { try await registry.update(6, .init(name: "MECA-PolITO")) }
            try await registry.remove(1)
            #expect(try await registry.list().map(\.id) == [6])
            let gone = await #expect(throws: FederationError.self) { try await registry.remove(1) }
            #expect(gone?.kind == .notFound)
        }
    }

    @Test("secrets are stored encrypted, and a different key file cannot open them", arguments: TestDatabase.available)
    func secretsEncrypted(backend: TestDatabase) async throws {
        try await withRegistry(on: backend) { registry, store, directory in
            try await registry.add(
                FederationRegion(id: 3, name: "MECA-BME", endpoint: "https://cloud.bme.example/client/api", apiKey: "K3"),
                secretKey: "very-secret-value")
            let stored = try await store.withDatabase { db in
                try await db.raw("SELECT secret_sealed FROM federation_regions").first()!.decode(column: "secret_sealed", as: String.self)
            }
            #expect(!stored.contains("very-secret-value"))
            // A ring of one 256-bit key, the secret nowhere in it.
            #expect(try SecretBox.keyIDs(keyFile: directory.appendingPathComponent("keys/secrets.key").path).count == 1)
            let file = try String(contentsOf: directory.appendingPathComponent("keys/secrets.key"), encoding: .utf8)
            #expect(!file.contains("very-secret-value"))
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("keys/secrets.key").path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

            let stranger = try await RegionRegistry.open(
                database: store, secrets: try SecretBox.open(keyFile: directory.appendingPathComponent("other.key").path))
            let error = await #expect(throws: FederationError.self) { try await stranger.credentials(3) }
            #expect(error?.kind == .secret)
        }
    }

    @Test(
        "the plan lists exactly the registry's regions: stale rows removed (never the installation's own), others renamed or re-pointed, missing ones added"
    )
    func planner() {
        func row(_ id: Int, _ name: String, _ endpoint: String) -> Region {
            var r = Region()
            r.id = id
            r.name = name
            r.endpoint = endpoint
            return r
        }
        let registry = [
            FederationRegion(id: 1, name: "MECA-PolITO", endpoint: "http://a.example:8080/client/api", apiKey: "K"),
            FederationRegion(id: 6, name: "MECA-TUS", endpoint: "http://b.example:8080/client/api", apiKey: "K"),
            FederationRegion(id: 3, name: "MECA-BME", endpoint: "http://c.example:8080/client/api/", apiKey: "K"),
        ]
        let installed = [
            row(1, "Local", "http://localhost:8080/client/"), row(6, "MECA-TUS", "http://b.example:8080/client/"), row(9, "Old", "http://old/client"),
        ]
        let polito = registry[0]
        let plan = RegionPlanner.plan(registry: registry, installed: installed, installation: polito)
        #expect(plan.ownRegionID == 1 && plan.idMismatch == nil)
        #expect(plan.removals == [.remove(id: 9, name: "Old")])
        #expect(
            plan.changes == [
                .update(id: 1, name: "MECA-PolITO", endpoint: "http://a.example:8080/client"),
                .add(id: 3, name: "MECA-BME", endpoint: "http://c.example:8080/client"),
            ])
        // An installation whose own id the registry no longer lists keeps its own row.
        let lone = FederationRegion(id: 9, name: "Self", endpoint: "http://self.example/client/api", apiKey: "K")
        #expect(RegionPlanner.plan(registry: [], installed: [row(9, "Self", "http://self.example/client")], installation: lone).isEmpty)
        let converged = registry.map { row($0.id, $0.name, $0.cloudStackEndpoint + "/") }
        #expect(RegionPlanner.plan(registry: registry, installed: converged, installation: registry[1]).isEmpty)
        // Recognised by its endpoint among many rows: registered as 7, its own row says 6 → blocked, nothing planned.
        let wrong = FederationRegion(id: 7, name: "MECA-TUS", endpoint: "http://b.example:8080/client/api", apiKey: "K")
        let blocked = RegionPlanner.plan(registry: [wrong, registry[0]], installed: converged, installation: wrong)
        #expect(blocked.idMismatch == .init(registry: 7, installation: 6) && blocked.isEmpty)
        // CloudStack's schema row (localhost) is the installation's own even beside other rows.
        let fresh = [row(1, "Local", "http://localhost:8080/client/"), row(6, "MECA-TUS", "http://b.example:8080/client/")]
        let misregistered = FederationRegion(id: 3, name: "MECA-BME", endpoint: "http://c.example:8080/client/api", apiKey: "K")
        #expect(
            RegionPlanner.plan(registry: registry, installed: fresh, installation: misregistered).idMismatch == .init(registry: 3, installation: 1))
    }
}
