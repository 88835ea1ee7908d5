import ArgumentParser
import Core
import Dashboard
import Foundation
import NIOHTTP1
import TemplateRepository

/// `mclouds dashboard`: the federation summary from a running server, as a terminal table or JSON.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "The federation at a glance: totals and every region's health and figures, from an mClouds server.",
        subcommands: [Show.self, Collect.self], defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the federation summary.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var server: ServerConnection
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let summary = try await server.client.call(.GET, "/api/v1/dashboard", as: FederationSummary.self)
                if json { return try printJSON(summary) }
                Console.line(DashboardCommand.table(summary))
            }
        }
    }

    struct Collect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Collect every region now (needs the admin token), then print the summary.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var server: ServerConnection
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let report = try await server.client.call(.POST, "/api/v1/dashboard/collect", as: DashboardCollector.Report.self)
                if json { return try printJSON(report) }
                let failed = report.failed.isEmpty ? "" : "; not reached: \(report.failed.joined(separator: ", "))"
                Console.line(String(format: "Collected %d regions in %.1f s%@", report.regions, report.seconds, failed as NSString))
                Console.line(DashboardCommand.table(try await server.client.call(.GET, "/api/v1/dashboard", as: FederationSummary.self)))
            }
        }
    }

    static let columns: [Resource] = [.cpu, .memory, .primaryStorage, .secondaryStorage, .publicIPs]

    static func table(_ summary: FederationSummary) -> String {
        func cell(_ figure: CapacityFigure?, _ resource: Resource) -> String {
            guard let figure, figure.total > 0 else { return "–" }
            let total =
                resource.isBytes
                ? ByteCount.format(figure.total) : resource == .cpu ? String(format: "%.0f GHz", Double(figure.total) / 1000) : "\(figure.total)"
            return String(format: "%.1f%% of %@", figure.percentUsed, total as NSString)
        }
        var rows = [["REGION", "HEALTH", "VERSION", "DATA"] + columns.map { $0.title.uppercased() } + ["VMS RUN/ALL", "HOSTS UP/ALL"]]
        for region in summary.regions {
            let data =
                region.snapshot == nil
                ? "none" : (region.ageSeconds.map { RegionStatus.describeAge(seconds: $0) } ?? "?") + (region.stale ? " STALE" : "")
            rows.append(
                [region.name, region.health?.level.rawValue ?? "?", region.health?.cloudStackVersion ?? "–", data]
                    + columns.map { cell(region.snapshot?.figure($0), $0) }
                    + [
                        region.snapshot.map { "\($0.virtualMachines.running)/\($0.virtualMachines.total)" } ?? "–",
                        region.snapshot.map { "\($0.hosts.up)/\($0.hosts.total)" } ?? "–",
                    ])
        }
        rows.append(
            ["FEDERATION", "", "", summary.staleRegions.isEmpty ? "" : "\(summary.staleRegions.count) stale"]
                + columns.map { cell(summary.total($0), $0) } + [
                    "\(summary.runningVirtualMachines)/\(summary.virtualMachines)", "\(summary.hostsUp)/\(summary.hosts)",
                ])
        var lines = [Table.render(rows)]
        for region in summary.regions {
            for problem in region.health?.problems ?? [] { lines.append("\(region.name): \(problem)") }
        }
        return lines.joined(separator: "\n")
    }

}
