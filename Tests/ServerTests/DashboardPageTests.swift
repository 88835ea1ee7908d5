import CloudStack
import CloudStackSimulator
import Core
import Dashboard
import Federation
import Foundation
import Logging
import NIOHTTP1
import Server
import TemplateRepository
import Testing

@Suite("Dashboard page and its caching")
struct DashboardPageTests {
    static let admin = [("Authorization", "Bearer admin-token")]

    @Test(
        "page and JSON are rendered once per state and served with ETags (304 on If-None-Match); a collection or a report makes a new one"
    )
    func etags() async throws {
        try await withServerAndRegion { server, repository, directory, _ in
            #expect((try await http(.POST, server.baseURL + "/api/v1/dashboard/collect", headers: Self.admin)).status == 200)
            for path in ["/", "/api/v1/dashboard", "/api/v1/dashboard/history?hours=24"] {
                let first = try await http(.GET, server.baseURL + path)
                let etag = try #require(first.headers.first(name: "ETag"), "\(path)")
                let again = try await http(.GET, server.baseURL + path)
                #expect(again.headers.first(name: "ETag") == etag && again.body == first.body, "\(path)")
                let conditional = try await http(.GET, server.baseURL + path, headers: [("If-None-Match", etag)])
                #expect(conditional.status == 304 && conditional.body.isEmpty, "\(path)")
                #expect(try await http(.GET, server.baseURL + path, headers: [("If-None-Match", "\"other\"")]).status == 200)
            }
            let page = try #require(try await http(.GET, server.baseURL + "/").headers.first(name: "ETag"))
            let summary = try #require(try await http(.GET, server.baseURL + "/api/v1/dashboard").headers.first(name: "ETag"))
            #expect((try await http(.POST, server.baseURL + "/api/v1/dashboard/collect", headers: Self.admin)).status == 200)
            let collectedPage = try #require(try await http(.GET, server.baseURL + "/").headers.first(name: "ETag"))
            #expect(collectedPage != page)
            #expect(try await http(.GET, server.baseURL + "/api/v1/dashboard").headers.first(name: "ETag") != summary)
            // A site report changes the page (its rollout table), not the summary.
            _ = try await repository.publish(imageAt: try writeFile(bytes(30_000, seed: 9), in: directory), metadata: sampleMetadata())
            try await repository.recordReport(
                site: "MECA-TUS",
                [.init(site: "MECA-TUS", template: "ubuntu-22.04", version: "1.0", state: "ready", bytesDownloaded: 1, bytesReused: 0)])
            #expect(try await http(.GET, server.baseURL + "/").headers.first(name: "ETag") != collectedPage)
        }
    }

    @Test(
        "stale regions are marked in the charts; plain HTTP is a warning; times are local with the zone; every kept version per site; no wrapped 0.0 %"
    )
    func pageDefects() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        try await Simulator.withRunning(.default(regionName: "MECA-TUS"), logger: logger) { simulator in
            try await withServer { server, repository, directory in
                let federation = try #require(server.federation)
                try await federation.registry.add(
                    .init(id: 6, name: "MECA-TUS", endpoint: simulator.endpoint, apiKey: simulator.adminKeys.apikey!),
                    secretKey: simulator.adminKeys.secretkey!)
                try await federation.collector.collectNow()
                var page = String(decoding: try await http(.GET, server.baseURL + "/").body, as: UTF8.self)
                #expect(!page.contains("class=\"stale\""))
                // The region goes dark: its last figures are counted, and the chart marks the point as stale.
                var outage = FaultConfiguration()
                outage.outage = true
                simulator.setFaults(outage)
                try await federation.collector.collectNow()
                page = String(decoding: try await http(.GET, server.baseURL + "/").body, as: UTF8.self)
                #expect(page.contains("<rect class=\"stale\"") && page.contains("class=\"stale-point\"") && page.contains("last figures counted"))
                #expect(page.contains("<span class=\"badge warn\">plain HTTP: no TLS</span>"))
                let zone = TimeZone.current.abbreviation() ?? TimeZone.current.identifier
                #expect(page.contains("collected 20") && page.contains(" \(zone)"))
                // A percentage never breaks before its sign.
                #expect(page.contains("&nbsp;%</span>") && page.firstMatch(of: /\d %/) == nil)

                for (version, seed) in [("1.0", 1), ("2.0", 2)] {
                    _ = try await repository.publish(
                        imageAt: try writeFile(bytes(30_000, seed: UInt64(seed)), in: directory), metadata: sampleMetadata("ubuntu-22.04", version))
                }
                try await repository.recordReport(
                    site: "MECA-TUS",
                    [
                        .init(site: "MECA-TUS", template: "ubuntu-22.04", version: "1.0", state: "ready", bytesDownloaded: 1, bytesReused: 0),
                        .init(
                            site: "MECA-TUS", template: "ubuntu-22.04", version: "2.0", state: "ready, featured", bytesDownloaded: 1, bytesReused: 0),
                    ])
                page = String(decoding: try await http(.GET, server.baseURL + "/").body, as: UTF8.self)
                #expect(page.contains("<td>ubuntu-22.04@1.0</td><td>ready · ") && page.contains("<td>ubuntu-22.04@2.0</td><td>ready, featured · "))
            }
        }
    }
}
