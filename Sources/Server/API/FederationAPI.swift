import Access
import Core
import Dashboard
import Federation
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import TemplateRepository

/// The federation half of the server: the region registry and its sync, the dashboard's collector, and
/// what serves them (composed by `mclouds server` and the demo).
public struct FederationServices: Sendable {
    public let registry: RegionRegistry
    public let collector: DashboardCollector
    /// What `/metrics` shows (the collector's gauges are made in it).
    public let metrics: PrometheusCollectorRegistry

    public init(registry: RegionRegistry, collector: DashboardCollector, metrics: PrometheusCollectorRegistry) {
        self.registry = registry
        self.collector = collector
        self.metrics = metrics
    }
}

/// A region as registered through the API: the registry's fields plus the federation admin's secret key
/// (accepted, stored encrypted, never returned).
struct NewRegion: Codable, Sendable {
    var id: Int
    var name: String
    var endpoint: String
    var portableIPEnabled: Bool?
    var gslbEnabled: Bool?
    var apiKey: String
    var secretKey: String
    var contact: String?
    var notes: String?
    var networks: [String]?
    var verifyTLS: Bool?
}

/// `/api/v1/regions…`, `/api/v1/dashboard…`, `/metrics` and the web dashboard at `/`.
struct FederationAPI: Sendable {
    let services: FederationServices
    let repository: Repository

    func register(on router: GuardedRouter) {
        let registry = services.registry
        let collector = services.collector
        router.get("/api/v1/regions") { _, context in
            // A partner admin sees its own region only.
            let regions = try await registry.list()
            guard let principal = context.principal, principal.role == .partnerAdmin else { return JSONResponse.make(regions) }
            return JSONResponse.make(regions.filter { String($0.id) == principal.scope })
        }
        router.post("/api/v1/regions") { request, context in
            let new = try await JSONBody.decode(NewRegion.self, request, limit: 64 << 10)
            let region = FederationRegion(
                id: new.id, name: new.name, endpoint: new.endpoint, portableIPEnabled: new.portableIPEnabled ?? false,
                gslbEnabled: new.gslbEnabled ?? true, apiKey: new.apiKey, contact: new.contact, notes: new.notes, networks: new.networks ?? [],
                verifyTLS: new.verifyTLS ?? true)
            try await registry.add(region, secretKey: new.secretKey)
            context.audit.say("region \(region.id) \(region.name) at \(region.endpoint), networks \(region.networks), verifyTLS \(region.verifyTLS)")
            return JSONResponse.make(region, status: 201)
        }
        router.get("/api/v1/regions/{id}") { _, context in
            JSONResponse.make(try await registry.region(String(try Self.regionID(context))))
        }
        router.patch("/api/v1/regions/{id}") { request, context in
            let id = try Self.regionID(context)
            let changes = try await JSONBody.decode(RegionRegistry.Changes.self, request, limit: 64 << 10)
            let before = try await registry.region(String(id))
            let after = try await registry.update(id, changes)
            Self.noteChanges(from: before, to: after, changes, in: context.audit)
            return JSONResponse.make(after)
        }
        router.delete("/api/v1/regions/{id}") { request, context in
            let id = try Self.regionID(context)
            let before = try await registry.region(String(id))
            try await registry.remove(id)
            context.audit.say("removed region \(before.name) at \(before.endpoint)")
            return Response(status: .noContent)
        }
        router.post("/api/v1/regions/sync") { request, context in
            let dryRun = try Query.flag(request, "dryRun")
            let allowRemovals = try Query.flag(request, "allowRemovals")
            let reports = try await RegionReconciler(registry: registry, logger: context.logger).run(dryRun: dryRun, allowRemovals: allowRemovals)
            context.audit.say(
                (dryRun ? "dry run over " : "") + "\(reports.count) installations: \(reports.map(\.applied.count).reduce(0, +)) actions applied, "
                    + "\(reports.map(\.failures.count).reduce(0, +)) failed, \(reports.filter { !$0.reachable }.count) unreachable")
            return JSONResponse.make(reports)
        }
        // The dashboard's answers are rendered once per state (a collection, a registry change, a site report) and
        // served with ETags: a federation of 50 regions costs one rendering per collection, not one per request.
        let cache = RenderedCache()
        let metricsCache = MetricsFigures.Cache()
        @Sendable func stateKey(rollout: Bool) async throws -> String {
            "\(try await collector.revision())|\(try await registry.revision())|\(rollout ? try await repository.rolloutRevision() : "")"
        }
        router.get("/api/v1/dashboard") { request, _ in
            try await cache.respond(request, name: "summary", key: try await stateKey(rollout: false), contentType: "application/json") {
                try OrderedJSONEncoder().encode(try await collector.summary()).serializedBytes()
            }
        }
        router.post("/api/v1/dashboard/collect") { request, context in
            let report = try await collector.collectNow()
            context.audit.say("collected \(report.regions) regions, \(report.failed.count) failed")
            return JSONResponse.make(report)
        }
        router.get("/api/v1/dashboard/history") { request, _ in
            let hours = try Query.number(request, "hours") ?? 24
            guard hours > 0, hours <= 24 * 366 else { throw APIError(status: 400, "hours must be more than 0 and at most 8784.") }
            return try await cache.respond(
                request, name: "history-\(hours)", key: "\(try await collector.revision())", contentType: "application/json"
            ) {
                try OrderedJSONEncoder().encode(try await collector.store.history(since: Date().addingTimeInterval(-hours * 3600))).serializedBytes()
            }
        }
        router.get("/metrics") { _, _ in
            // The collector's own metrics, then what is computed at the moment of the scrape.
            var bytes = services.metrics.emitToBuffer()
            let figures = try await metricsCache.figures(key: try await stateKey(rollout: true)) {
                let (summary, rollout) = (try await collector.summary(), try await repository.rollout())
                var text = PrometheusText()
                DashboardMetrics.exposition(summary, into: &text)
                RolloutMetrics.exposition(rollout, into: &text)
                return .init(
                    text: Array(text.rendered.utf8), collected: DashboardMetrics.collectedTimes(summary),
                    reported: RolloutMetrics.latestReports(rollout))
            }
            bytes += figures.text
            var text = PrometheusText()
            let now = Date()
            DashboardMetrics.ageExposition(figures.collected, now: now, into: &text)
            RolloutMetrics.ageExposition(figures.reported, now: now, into: &text)
            text.gauge("mclouds_build_info", help: "The running mClouds build (value 1).", labels: [("version", BuildInfo.version)], 1)
            ProcessMetrics.add(to: &text)
            bytes += Array(text.rendered.utf8)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .contentLength: String(bytes.count)],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        router.get("/") { request, _ in
            try await cache.respond(request, name: "page", key: try await stateKey(rollout: true), contentType: "text/html; charset=utf-8") {
                let now = Date()
                let page = try DashboardPage.render(
                    summary: try await collector.summary(now: now),
                    history: try await collector.store.history(since: now.addingTimeInterval(-7 * 86_400)),
                    rollout: try await repository.rollout())
                return Array(page.utf8)
            }
        }
    }

    /// Notes what a region update changed, before → after (the keys only as "replaced": they are secrets).
    static func noteChanges(from before: FederationRegion, to after: FederationRegion, _ changes: RegionRegistry.Changes, in note: AuditNote) {
        note.change("name", from: before.name, to: after.name)
        note.change("endpoint", from: before.endpoint, to: after.endpoint)
        note.change("portableIPEnabled", from: before.portableIPEnabled, to: after.portableIPEnabled)
        note.change("gslbEnabled", from: before.gslbEnabled, to: after.gslbEnabled)
        note.change("contact", from: before.contact ?? "-", to: after.contact ?? "-")
        note.change("notes", from: before.notes ?? "-", to: after.notes ?? "-")
        note.change("networks", from: before.networks, to: after.networks)
        note.change("verifyTLS", from: before.verifyTLS, to: after.verifyTLS)
        if changes.apiKey != nil { note.say("API key replaced") }
        if changes.secretKey != nil { note.say("secret key replaced") }
    }

    static func regionID(_ context: ServerContext) throws -> Int {
        let text = try context.parameters.require("id")
        guard let id = Int(text) else { throw APIError(status: 400, "Region id \(text) is not an integer.") }
        return id
    }
}
