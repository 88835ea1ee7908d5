import CloudStack
import CloudStackSimulator
import Core
import Federation
import Foundation
import Testing

@Suite("Federation: region sync across installations")
struct ReconcileTests {
    @Test("registry → plan (dry run changes nothing) → apply → every installation lists the registry's regions → a second run is a no-op")
    func planApplyIdempotent() async throws {
        try await withRegistry { registry, _, _ in
            try await withThreeRegions { simulators in
                for simulator in simulators { try await registry.add(region(for: simulator), secretKey: simulator.adminKeys.secretkey!) }
                let reconciler = RegionReconciler(registry: registry, logger: quietLogger)

                let plan = try await reconciler.run(dryRun: true)
                #expect(plan.count == 3 && plan.allSatisfy { $0.reachable && $0.applied.isEmpty && $0.drift.isEmpty })
                // Each installation lists only itself: the two others are to be added.
                #expect(plan.allSatisfy { $0.actions.count == 2 && $0.actions.allSatisfy { if case .add = $0 { true } else { false } } })
                for simulator in simulators { #expect(try await client(for: simulator).listRegions(logger: quietLogger).count == 1) }

                let applied = try await reconciler.run(dryRun: false)
                #expect(applied.allSatisfy { $0.ok && $0.applied == $0.actions })
                let wanted = simulators.map { ($0.configuration.regionID, $0.configuration.regionName) }.sorted { $0.0 < $1.0 }
                for simulator in simulators {
                    let rows = try await client(for: simulator).listRegions(logger: quietLogger).sorted { $0.id! < $1.id! }
                    #expect(rows.map { ($0.id!, $0.name!) }.elementsEqual(wanted, by: ==))
                    let tus = rows.first { $0.id == 6 }!
                    #expect(tus.endpoint == simulators[1].endpoint.replacingOccurrences(of: "/client/api", with: "/client"))
                }
                let again = try await reconciler.run(dryRun: false)
                #expect(again.allSatisfy { $0.ok && $0.actions.isEmpty && $0.applied.isEmpty })

                // A rename and a removal in the registry reach every installation at the next sync.
                try await registry.update(3, .init(name: "MECA-BME-Budapest"))
                try await registry.remove(6)
                // Without --allow-removals the rename is applied and the removal is listed apart, held back.
                let held = try await reconciler.run(dryRun: false)
                #expect(held.map(\.id) == [1, 3])
                #expect(held.allSatisfy { $0.ok && $0.removalsHeld && $0.removals == [.remove(id: 6, name: "MECA-TUS")] })
                #expect(held.allSatisfy { !$0.applied.contains(.remove(id: 6, name: "MECA-TUS")) })
                for simulator in [simulators[0], simulators[2]] {
                    #expect(Set(try await client(for: simulator).listRegions(logger: quietLogger).map(\.id!)) == [1, 3, 6])
                }
                let changed = try await reconciler.run(dryRun: false, allowRemovals: true)
                #expect(changed.map(\.id) == [1, 3])
                #expect(changed.allSatisfy { $0.ok && !$0.removalsHeld && $0.applied == [.remove(id: 6, name: "MECA-TUS")] })
                for simulator in [simulators[0], simulators[2]] {
                    let names = Set(try await client(for: simulator).listRegions(logger: quietLogger).map(\.name!))
                    #expect(names == ["MECA-PolITO", "MECA-BME-Budapest"])
                }
            }
        }
    }

    @Test("an unreachable installation is reported and skipped; the others are reconciled")
    func deadInstallation() async throws {
        try await withRegistry { registry, _, _ in
            try await withThreeRegions { simulators in
                for simulator in simulators.prefix(2) { try await registry.add(region(for: simulator), secretKey: simulator.adminKeys.secretkey!) }
                try await registry.add(
                    FederationRegion(id: 3, name: "MECA-BME", endpoint: "http://127.0.0.1:9/client/api", apiKey: "dead"), secretKey: "dead")
                var reconciler = RegionReconciler(registry: registry, logger: quietLogger)
                reconciler.requestTimeout = .seconds(5)
                let reports = try await reconciler.run(dryRun: false)
                let dead = try #require(reports.first { $0.id == 3 })
                #expect(!dead.reachable && dead.error != nil && dead.applied.isEmpty)
                for report in reports where report.id != 3 { #expect(report.ok && report.applied.count == 2) }
                for simulator in simulators.prefix(2) {
                    #expect(Set(try await client(for: simulator).listRegions(logger: quietLogger).map(\.id!)) == [1, 3, 6])
                }
            }
        }
    }

    @Test("the federation admin account is checked: keys of a user that is not a root admin are reported as drift")
    func accountDrift() async throws {
        try await withRegistry { registry, _, _ in
            try await withThreeRegions { simulators in
                let admin = client(for: simulators[0])
                let account = try await admin.createAccount(
                    username: "plain", password: "pw", email: "u@x.example", firstName: "U", lastName: "Ser", accountType: 0, account: "plain",
                    logger: quietLogger)
                let user = try #require(account.user?.first)
                let keys = try await admin.registerUserKeys(userID: user.id!, logger: quietLogger)
                try await registry.add(
                    FederationRegion(id: 1, name: "MECA-PolITO", endpoint: simulators[0].endpoint, apiKey: keys.apikey!), secretKey: keys.secretkey!)
                let report = try await RegionReconciler(registry: registry, logger: quietLogger).run(dryRun: true)
                #expect(report[0].drift.contains { $0.contains("not a root admin") }, "\(report[0].drift)")
            }
        }
    }

    @Test("an installation registered under the wrong id (own table says 1, registry 7) is blocked as drift; its own row is never removed or renamed")
    func wrongIDNeverRemovesOwnRegion() async throws {
        try await withRegistry { registry, _, _ in
            var configuration = SimulatorConfiguration.default(regionName: "Simulated-Region")
            configuration.regionID = 1
            try await Simulator.withRunning(configuration, logger: quietLogger) { simulator in
                try await registry.add(
                    FederationRegion(id: 7, name: "MECA-UPB-CETTI", endpoint: simulator.endpoint, apiKey: simulator.adminKeys.apikey!),
                    secretKey: simulator.adminKeys.secretkey!)
                let reconciler = RegionReconciler(registry: registry, logger: quietLogger)
                for (dryRun, allowRemovals) in [(true, false), (false, false), (false, true)] {
                    let report = try #require(try await reconciler.run(dryRun: dryRun, allowRemovals: allowRemovals).first)
                    #expect(report.reachable && !report.ok)
                    #expect(report.ownRegionID == 1)
                    #expect(report.idMismatch == RegionPlan.IDMismatch(registry: 7, installation: 1))
                    #expect(report.actions.isEmpty && report.removals.isEmpty && report.applied.isEmpty)
                    #expect(!report.drift.isEmpty)
                    let rows = try await client(for: simulator).listRegions(logger: quietLogger)
                    #expect(rows.map(\.id) == [1] && rows.map(\.name) == ["Simulated-Region"])
                }
                // Fixed in the registry, the installation is reconciled and keeps its row.
                try await registry.remove(7)
                try await registry.add(
                    FederationRegion(id: 1, name: "Simulated-Region", endpoint: simulator.endpoint, apiKey: simulator.adminKeys.apikey!),
                    secretKey: simulator.adminKeys.secretkey!)
                let fixed = try #require(try await reconciler.run(dryRun: false, allowRemovals: true).first)
                #expect(fixed.ok && fixed.idMismatch == nil && fixed.applied.isEmpty)
            }
        }
    }
}
