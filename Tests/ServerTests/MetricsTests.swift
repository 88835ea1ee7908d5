import CloudStack
import CloudStackSimulator
import Core
import Foundation
import Logging
import NIOHTTP1
import Server
import TemplateRepository
import TestSupport
import Testing

@Suite("/metrics follows the Prometheus conventions")
struct MetricsTests {
    static let admin = [("Authorization", "Bearer admin-token")]

    @Test(
        "promtool check metrics passes; HELP and TYPE on every family; ages computed at scrape time; rollout and process metrics",
        .enabled(if: Tools.available("promtool")))
    func promtool() async throws {
        let promtool = try #require(Tools.path("promtool"), "promtool is missing: scripts/test installs Debian's prometheus package")
        try await withServerAndRegion { server, repository, directory, _ in
            #expect((try await http(.POST, server.baseURL + "/api/v1/dashboard/collect", headers: Self.admin)).status == 200)
            _ = try await repository.publish(imageAt: try writeFile(bytes(30_000, seed: 9), in: directory), metadata: sampleMetadata())
            let report =
                #"{"states": [{"site": "MECA-TUS", "template": "ubuntu-22.04", "version": "1.0", "state": "ready", "bytesDownloaded": 30000, "bytesReused": 0}]}"#
            #expect(
                (try await http(.POST, server.baseURL + "/api/v1/sites/MECA-TUS/report", headers: Self.admin, body: Array(report.utf8))).status
                    == 200)

            let first = String(decoding: try await http(.GET, server.baseURL + "/metrics").body, as: UTF8.self)
            try await Task.sleep(for: .milliseconds(1100))
            let second = String(decoding: try await http(.GET, server.baseURL + "/metrics").body, as: UTF8.self)

            let file = directory.appendingPathComponent("metrics.txt")
            try Data(second.utf8).write(to: file)
            let check = try await runProgram("/bin/sh", ["-c", "\(promtool) check metrics < \(file.path)"])
            #expect(check.status == 0 && check.stdout.isEmpty && check.stderr.isEmpty, "promtool: \(check.stdout) \(check.stderr)")

            // Every family has HELP and TYPE.
            let families = Set(
                second.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
                    String(line.prefix { $0 != "{" && $0 != " " })
                })
            let typed = Set(second.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
            let helped = Set(second.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { String($0.split(separator: " ")[2]) })
            for family in families {
                let base = ["_bucket", "_sum", "_count"].reduce(family) { $0.hasSuffix($1) ? String($0.dropLast($1.count)) : $0 }
                #expect(typed.contains(base) && helped.contains(base), "\(family) lacks HELP or TYPE")
            }
            // The data age is the age at the time of the scrape: it grew between the two scrapes without a collection.
            func age(_ text: String) -> Double? {
                text.split(separator: "\n").first { $0.hasPrefix(#"mclouds_region_data_age_seconds{region="MECA-TUS"}"#) }
                    .flatMap { Double($0.split(separator: " ").last!) }
            }
            let (a, b) = (try #require(age(first)), try #require(age(second)))
            #expect(b >= a + 1)
            #expect(second.contains(#"mclouds_rollout_versions{site="MECA-TUS",template="ubuntu-22.04",state="ready"} 1"#))
            #expect(second.contains(#"mclouds_site_report_age_seconds{site="MECA-TUS"}"#))
            #expect(second.contains("process_start_time_seconds") && second.contains("process_open_fds"))
            #expect(!second.contains("_total{") || !second.contains("# TYPE mclouds_collections_total gauge"))
        }
    }
}
