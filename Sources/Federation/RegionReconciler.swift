import CloudStack
import Core
import Foundation
import Logging

/// `mclouds region sync`: makes every installation's regions table list exactly the registry's regions,
/// and checks the federation admin account on each. Installations are handled concurrently (a bounded
/// number at once); one that cannot be reached is reported and skipped, never blocking the others.
public struct RegionReconciler: Sendable {
    /// What happened on one installation.
    public struct Report: Sendable, Codable, Hashable {
        public var id: Int
        public var name: String
        public var reachable: Bool
        /// The installation's own region id, as its regions table shows it.
        public var ownRegionID: Int?
        /// The plan's additions and updates (a diff of its regions table).
        public var actions: [RegionAction]
        /// Rows the registry does not list, planned apart: removed only with `allowRemovals`.
        public var removals: [RegionAction]
        /// True when removals were planned but not allowed, so left in place.
        public var removalsHeld: Bool
        /// Set when the registry's id for this installation is not its own: the installation's plan is blocked.
        public var idMismatch: RegionPlan.IDMismatch?
        /// Actions carried out (empty on a dry run).
        public var applied: [RegionAction]
        /// Actions that failed, with CloudStack's answer.
        public var failures: [String]
        /// Differences the API cannot fix, and account problems.
        public var drift: [String]
        public var error: String?

        /// True when the installation was reached, its plan was not blocked and nothing failed.
        public var ok: Bool { reachable && failures.isEmpty && error == nil && idMismatch == nil }
    }

    public let registry: RegionRegistry
    public var parallel = 8
    public var requestTimeout: Duration = .seconds(20)
    let logger: Logger

    public init(registry: RegionRegistry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    /// Plans (and unless `dryRun`, applies) every installation's changes.
    /// - Parameters:
    ///   - dryRun: plan only.
    ///   - allowRemovals: also remove rows the registry does not list (never an installation's own row).
    public func run(dryRun: Bool, allowRemovals: Bool = false) async throws -> [Report] {
        let regions = try await registry.list()
        let keys = try await registry.allCredentials()
        return await concurrentMap(regions, limit: parallel) { installation in
            let (apiKey, secret) = keys[installation.id] ?? ("", "")
            return await reconcile(
                installation, apiKey: apiKey, secret: secret, registry: regions, dryRun: dryRun, allowRemovals: allowRemovals)
        }
    }

    func reconcile(
        _ installation: FederationRegion, apiKey: String, secret: String, registry: [FederationRegion], dryRun: Bool, allowRemovals: Bool
    ) async -> Report {
        var configuration = CloudStackClient.Configuration(
            endpoint: installation.endpoint, apiKey: apiKey, secretKey: secret, region: installation.name)
        configuration.requestTimeout = requestTimeout
        configuration.maxAttempts = 2
        var logger = logger
        logger[metadataKey: "region"] = "\(installation.name)"
        let client = CloudStackClient(
            configuration: configuration, httpClient: (try? installation.apiHTTPClient(logger: logger)) ?? HTTPClients.shared)
        var report = Report(
            id: installation.id, name: installation.name, reachable: false, actions: [], removals: [], removalsHeld: false, applied: [],
            failures: [], drift: [], error: nil)
        let installed: [Region]
        do {
            installed = try await client.listRegions(logger: logger)
            report.reachable = true
        } catch {
            report.error = "\(error)"
            logger.warning("installation skipped", metadata: ["error": "\(error)"])
            return report
        }
        let plan = RegionPlanner.plan(registry: registry, installed: installed, installation: installation)
        report.ownRegionID = plan.ownRegionID
        report.actions = plan.changes
        report.removals = plan.removals
        report.removalsHeld = !allowRemovals && !plan.removals.isEmpty
        report.idMismatch = plan.idMismatch
        report.drift = flagDrift(installed: installed, registry: registry) + (await accountDrift(client, apiKey: apiKey, logger: logger))
        if let mismatch = plan.idMismatch {
            report.drift.insert(mismatch.description, at: 0)
            logger.error(
                "installation's plan blocked: its region id differs from the registry's",
                metadata: [
                    "region.id.registry": .stringConvertible(mismatch.registry), "region.id.installation": .stringConvertible(mismatch.installation),
                ])
            return report
        }
        guard !dryRun else { return report }
        for action in (allowRemovals ? plan.removals : []) + plan.changes {
            do {
                switch action {
                case .add(let id, let name, let endpoint): _ = try await client.addRegion(id: id, name: name, endpoint: endpoint, logger: logger)
                case .update(let id, let name, let endpoint):
                    _ = try await client.updateRegion(id: id, name: name, endpoint: endpoint, logger: logger)
                case .remove(let id, _): try await client.removeRegion(id: id, logger: logger)
                }
                report.applied.append(action)
                logger.info("region table changed", metadata: ["change": "\(action)"])
            } catch {
                report.failures.append("\(action): \(error)")
                logger.error("region table change failed", metadata: ["change": "\(action)", "error": "\(error)"])
            }
        }
        return report
    }

    /// GSLB and portable-IP flags are set in CloudStack's database, not through the API: report differences.
    func flagDrift(installed: [Region], registry: [FederationRegion]) -> [String] {
        var drift: [String] = []
        for row in installed {
            guard let id = row.id, let region = registry.first(where: { $0.id == id }) else { continue }
            if let gslb = row.gslbserviceenabled, gslb != region.gslbEnabled {
                drift.append(
                    "region \(id) (\(region.name)): GSLB is \(gslb ? "on" : "off") here, \(region.gslbEnabled ? "on" : "off") in the registry (set in CloudStack's database, not through the API)"
                )
            }
            if let portable = row.portableipserviceenabled, portable != region.portableIPEnabled {
                drift.append(
                    "region \(id) (\(region.name)): portable IPs are \(portable ? "on" : "off") here, \(region.portableIPEnabled ? "on" : "off") in the registry (set in CloudStack's database, not through the API)"
                )
            }
        }
        return drift
    }

    /// The keys work (the caller got this far); their user must exist, be enabled and belong to a root admin account.
    func accountDrift(_ client: CloudStackClient, apiKey: String, logger: Logger) async -> [String] {
        do {
            let users = try await client.listUsers(logger: logger)
            guard let user = users.first(where: { $0.apikey == apiKey }) else {
                return ["the federation admin's keys work, but their user is not listed (listUsers): check the account"]
            }
            var drift: [String] = []
            if user.accounttype != 1 {
                drift.append(
                    "the federation admin account \(user.account ?? "?") is not a root admin (account type \(user.accounttype.map(String.init) ?? "?")): region changes need one"
                )
            }
            if let state = user.state, state.lowercased() != "enabled" {
                drift.append("the federation admin user \(user.username ?? "?") is \(state)")
            }
            return drift
        } catch {
            return ["cannot check the federation admin account: \(error)"]
        }
    }
}
