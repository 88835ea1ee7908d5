import Core
import Dashboard
import Foundation
import Mustache
import TemplateRepository

/// The web dashboard: server-rendered HTML from a Mustache template, charts as inline SVG, no script and
/// nothing fetched from elsewhere; the page reloads itself every minute.
enum DashboardPage {
    static let template: MustacheTemplate = {
        do {
            return try MustacheTemplate(string: templateText)
        } catch {
            fatalError("The dashboard template does not parse: \(error)")
        }
    }()

    struct Bar {
        var title: String
        var used: String
        var total: String
        var free: String
        var percent: String
        var width: String
        var level: String
    }

    struct RegionCard {
        var id: Int
        var name: String
        var endpoint: String
        var level: String
        var version: String
        var latency: String
        var certificate: String
        var certificateLevel: String
        var freshness: String
        var stale: Bool
        var never: Bool
        var problems: [String]
        var bars: [Bar]
        var vms: String
        var hosts: String
    }

    struct MatrixRow {
        var template: String
        var cells: [String]
    }

    struct View {
        var generated: String
        var regionCount: Int
        var staleNote: String
        var totals: [Bar]
        var vms: String
        var hosts: String
        var regions: [RegionCard]
        var capacityChart: String
        var vmChart: String
        var sites: [String]
        var matrix: [MatrixRow]
        var hasMatrix: Bool
        var hasStaleHistory: Bool
    }

    /// The page for the stored state. It depends on nothing else (no clock): times are shown as local times with
    /// the zone, so one rendering serves until the state changes.
    static func render(summary: FederationSummary, history: [SnapshotStore.HistoryPoint], rollout: [SiteTemplateState]) throws -> String {
        let shown: [Resource] = [.cpu, .memory, .primaryStorage, .secondaryStorage, .publicIPs]
        let stale = summary.staleRegions.isEmpty ? "" : "stale data from \(summary.staleRegions.joined(separator: ", ")) (last figures counted)"
        let view = View(
            generated: localTime(summary.generated, seconds: true), regionCount: summary.regions.count,
            staleNote: [stale, summary.missingRegions.isEmpty ? "" : "never collected: \(summary.missingRegions.joined(separator: ", "))"]
                .filter { !$0.isEmpty }.joined(separator: "; "),
            totals: shown.map { bar($0, summary.total($0)) }, vms: "\(summary.runningVirtualMachines) running of \(summary.virtualMachines)",
            hosts: "\(summary.hostsUp) up of \(summary.hosts)", regions: summary.regions.map { card($0, shown: shown) },
            capacityChart: capacityChart(history), vmChart: vmChart(history), sites: sites(rollout), matrix: matrix(rollout),
            hasMatrix: !rollout.isEmpty, hasStaleHistory: history.contains { !($0.staleRegions ?? []).isEmpty })
        return template.render(view)
    }

    static func bar(_ resource: Resource, _ figure: CapacityFigure) -> Bar {
        let percent = figure.percentUsed
        return Bar(
            title: resource.title, used: amount(figure.used, resource), total: amount(figure.total, resource), free: amount(figure.free, resource),
            percent: String(format: "%.1f", percent), width: String(format: "%.1f", min(100, percent)),
            level: percent > 85 ? "crit" : percent > 75 ? "warn" : "ok")
    }

    static func amount(_ value: Int64, _ resource: Resource) -> String {
        if resource.isBytes { return ByteCount.format(value) }
        if resource == .cpu { return value >= 10_000 ? String(format: "%.1f GHz", Double(value) / 1000) : "\(value) MHz" }
        return "\(value)"
    }

    static func card(_ region: RegionStatus, shown: [Resource]) -> RegionCard {
        let health = region.health
        let certificate = health?.certificate
        let plainHTTP = !region.endpoint.lowercased().hasPrefix("https")
        return RegionCard(
            id: region.id, name: region.name, endpoint: region.endpoint, level: health?.level.rawValue ?? "unknown",
            version: health?.cloudStackVersion ?? "–", latency: health?.latencyMilliseconds.map { String(format: "%.0f ms", $0) } ?? "–",
            certificate: certificate.map { "\($0.daysLeft) days left\($0.trusted ? "" : ", not trusted")" }
                ?? (plainHTTP ? "plain HTTP: no TLS" : "unknown"),
            certificateLevel: certificate.map { !$0.trusted || $0.daysLeft < 0 ? "crit" : $0.daysLeft < 30 ? "warn" : "ok" }
                ?? (plainHTTP ? "warn" : "none"),
            freshness: region.snapshot.map { "collected \(localTime($0.collected))" } ?? "never collected",
            stale: region.stale && region.snapshot != nil,
            never: region.snapshot == nil, problems: health?.problems ?? [],
            bars: region.snapshot.map { snapshot in shown.compactMap { r in snapshot.figure(r).map { bar(r, $0) } } } ?? [],
            vms: region.snapshot.map { "\($0.virtualMachines.running) running of \($0.virtualMachines.total)" } ?? "–",
            hosts: region.snapshot.map { "\($0.hosts.up) up of \($0.hosts.total)" } ?? "–")
    }

    /// `2026-11-25T10:00:00Z` as the server's local time with its zone: `2026-11-25 11:00 CET`.
    static func localTime(_ text: String, seconds: Bool = false, year: Bool = true) -> String {
        guard let date = Timestamps.date(from: text) else { return text }
        let zone = TimeZone.current
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let day = String(format: year ? "%04d-%02d-%02d" : "%02d-%02d", arguments: year ? [c.year!, c.month!, c.day!] : [c.month!, c.day!])
        let time = String(
            format: seconds ? "%02d:%02d:%02d" : "%02d:%02d", arguments: seconds ? [c.hour!, c.minute!, c.second!] : [c.hour!, c.minute!])
        return "\(day) \(time) \(zone.abbreviation(for: date) ?? zone.identifier)"
    }

    /// A chart label: `11-25 11:00 CET`.
    static func shortTime(_ text: String) -> String { localTime(text, year: false) }

    static func capacityChart(_ history: [SnapshotStore.HistoryPoint]) -> String {
        func series(_ name: String, _ color: String, _ resource: Resource) -> SVGChart.Series {
            .init(name: name, color: color, values: history.map { $0.totals[resource.rawValue]?.percentUsed ?? 0 })
        }
        return SVGChart.line(
            title: "Capacity used over time (%): CPU, memory, primary storage",
            series: [series("CPU", "#2b6cb0", .cpu), series("Memory", "#c05621", .memory), series("Primary storage", "#2f855a", .primaryStorage)],
            labels: history.map { shortTime($0.time) }, maximum: 100, unit: "%", stale: history.map { !($0.staleRegions ?? []).isEmpty })
    }

    static func vmChart(_ history: [SnapshotStore.HistoryPoint]) -> String {
        SVGChart.line(
            title: "Running virtual machines",
            series: [.init(name: "Running VMs", color: "#6b46c1", values: history.map { Double($0.runningVirtualMachines) })],
            labels: history.map { shortTime($0.time) }, maximum: nil, unit: "", stale: history.map { !($0.staleRegions ?? []).isEmpty })
    }

    static func sites(_ rollout: [SiteTemplateState]) -> [String] { Array(Set(rollout.map(\.site))).sorted() }

    /// Template version × site: every version a site keeps (as its agent last reported), its state and when it reported.
    static func matrix(_ rollout: [SiteTemplateState]) -> [MatrixRow] {
        let sites = sites(rollout)
        var cells: [String: [String: SiteTemplateState]] = [:]
        var versions: [(template: String, version: String)] = []
        for state in rollout {
            let key = "\(state.template)@\(state.version)"
            if cells[key] == nil { versions.append((state.template, state.version)) }
            cells[key, default: [:]][state.site] = state
        }
        versions.sort {
            $0.template != $1.template ? $0.template < $1.template : $0.version.compare($1.version, options: .numeric) == .orderedAscending
        }
        return versions.map { entry in
            let key = "\(entry.template)@\(entry.version)"
            return MatrixRow(
                template: key,
                cells: sites.map { site in
                    guard let s = cells[key]?[site] else { return "–" }
                    let when = s.reported.map { localTime($0, year: false) } ?? ""
                    return "\(s.state)\(s.error == nil ? "" : " (error)") · \(when)"
                })
        }
    }

    static let templateText = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta http-equiv="refresh" content="60">
        <title>mClouds federation dashboard</title>
        <style>
        :root { --ok: #2f855a; --warn: #d69e2e; --crit: #c53030; --muted: #5a6472; --line: #d9dee5; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a202c; background: #f4f6f9; }
        header { background: #1f2a44; color: #fff; padding: 14px 20px; display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: baseline; }
        header h1 { font-size: 20px; margin: 0; }
        header .meta { color: #cbd5e0; font-size: 13px; }
        main { padding: 16px 20px 32px; max-width: 1400px; margin: 0 auto; }
        h2 { font-size: 16px; margin: 24px 0 10px; color: #2d3748; }
        .grid { display: grid; gap: 12px; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); }
        .regions { grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
        .card h3 { margin: 0 0 6px; font-size: 15px; display: flex; justify-content: space-between; gap: 8px; }
        .figure { font-size: 20px; font-weight: 600; }
        .sub { color: var(--muted); font-size: 13px; }
        .bar { height: 8px; background: #e2e8f0; border-radius: 4px; overflow: hidden; margin: 6px 0 2px; }
        .bar span { display: block; height: 100%; }
        .bar .ok, .badge.ok { background: var(--ok); }
        .bar .warn, .badge.warn, .badge.warning { background: var(--warn); }
        .bar .crit, .badge.crit, .badge.error { background: var(--crit); }
        .badge { color: #fff; border-radius: 10px; padding: 1px 8px; font-size: 12px; font-weight: 600; white-space: nowrap; background: #718096; }
        .badge.none { background: #a0aec0; }
        dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 6px 0; font-size: 13px; }
        dt { color: var(--muted); }
        dd { margin: 0; overflow-wrap: anywhere; }
        .mini { margin-top: 6px; font-size: 12px; }
        .mini .row { display: grid; grid-template-columns: 110px 1fr 58px; gap: 6px; align-items: center; }
        .pct { white-space: nowrap; text-align: right; }
        .mini .bar { margin: 0; height: 6px; }
        ul.problems { margin: 6px 0 0; padding-left: 18px; color: var(--crit); font-size: 13px; }
        .charts { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); }
        svg.chart { width: 100%; height: auto; display: block; }
        svg .grid { stroke: #e2e8f0; stroke-width: 1; }
        svg .axis { fill: #718096; font-size: 11px; }
        svg .stale { fill: #fefcbf; }
        .legend i.stale { background: #fefcbf; border: 1px solid #d69e2e; }
        .legend { font-size: 12px; color: var(--muted); display: flex; gap: 12px; flex-wrap: wrap; }
        .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
        .table-wrap { overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
        table { border-collapse: collapse; width: 100%; font-size: 13px; }
        th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid #edf0f4; white-space: nowrap; }
        th { background: #f7f9fb; color: #4a5568; }
        .note { color: var(--crit); font-size: 13px; }
        @media (max-width: 600px) {
          main { padding: 12px; } .figure { font-size: 17px; }
          svg .axis { font-size: 19px; }
          .grid { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; } .grid.regions { grid-template-columns: 1fr; }
        }
        </style>
        </head>
        <body>
        <header>
          <h1>mClouds federation</h1>
          <span class="meta">{{regionCount}} regions · updated {{generated}} · this page reloads every minute</span>
        </header>
        <main>
        {{#staleNote}}<p class="note">{{staleNote}}</p>{{/staleNote}}
        <h2>Federation totals</h2>
        <section class="grid">
        {{#totals}}
          <div class="card">
            <h3>{{title}} <span class="sub pct">{{percent}}&nbsp;%</span></h3>
            <div class="figure">{{used}}</div>
            <div class="bar"><span class="{{level}}" style="width: {{width}}%"></span></div>
            <div class="sub">of {{total}} · {{free}} free</div>
          </div>
        {{/totals}}
          <div class="card">
            <h3>Virtual machines</h3>
            <div class="figure">{{vms}}</div>
            <div class="sub">hosts: {{hosts}}</div>
          </div>
        </section>

        <h2>Regions</h2>
        <section class="grid regions">
        {{#regions}}
          <div class="card">
            <h3><span>{{name}} <span class="sub">#{{id}}</span></span> <span class="badge {{level}}">{{level}}</span></h3>
            <dl>
              <dt>CloudStack</dt><dd>{{version}} · API {{latency}}</dd>
              <dt>Certificate</dt><dd><span class="badge {{certificateLevel}}">{{certificate}}</span></dd>
              <dt>Data</dt><dd>{{freshness}}{{#stale}} <span class="badge warn">stale</span>{{/stale}}{{#never}} <span class="badge none">no data</span>{{/never}}</dd>
              <dt>VMs</dt><dd>{{vms}}</dd>
              <dt>Hosts</dt><dd>{{hosts}}</dd>
            </dl>
            <div class="mini">
            {{#bars}}
              <div class="row"><span>{{title}}</span><div class="bar"><span class="{{level}}" style="width: {{width}}%"></span></div><span class="pct">{{percent}}&nbsp;%</span></div>
            {{/bars}}
            </div>
            {{#hasProblems}}<ul class="problems">{{#problems}}<li>{{.}}</li>{{/problems}}</ul>{{/hasProblems}}
          </div>
        {{/regions}}
        {{^regions}}<p class="sub">No regions registered yet: <code>mclouds region add</code>.</p>{{/regions}}
        </section>

        <h2>History</h2>
        <section class="charts">
          <div class="card">
            <div class="legend"><span><i style="background:#2b6cb0"></i>CPU</span><span><i style="background:#c05621"></i>Memory</span><span><i style="background:#2f855a"></i>Primary storage</span>{{#hasStaleHistory}}<span><i class="stale"></i>stale: a region not read, its last figures counted</span>{{/hasStaleHistory}}</div>
            {{{capacityChart}}}
          </div>
          <div class="card">
            <div class="legend"><span><i style="background:#6b46c1"></i>Running VMs</span>{{#hasStaleHistory}}<span><i class="stale"></i>stale</span>{{/hasStaleHistory}}</div>
            {{{vmChart}}}
          </div>
        </section>

        <h2>Template rollout</h2>
        {{#hasMatrix}}
        <div class="table-wrap">
        <table>
          <thead><tr><th>Template version</th>{{#sites}}<th>{{.}}</th>{{/sites}}</tr></thead>
          <tbody>
          {{#matrix}}<tr><td>{{template}}</td>{{#cells}}<td>{{.}}</td>{{/cells}}</tr>{{/matrix}}
          </tbody>
        </table>
        </div>
        {{/hasMatrix}}
        {{^hasMatrix}}<p class="sub">No site agent has reported yet.</p>{{/hasMatrix}}
        </main>
        </body>
        </html>
        """
}

// Children by name without `Mirror` (the page renders several times faster).
extension DashboardPage.Bar: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "used": used
        case "total": total
        case "free": free
        case "percent": percent
        case "width": width
        case "level": level
        default: nil
        }
    }
}

extension DashboardPage.RegionCard: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "name": self.name
        case "endpoint": endpoint
        case "level": level
        case "version": version
        case "latency": latency
        case "certificate": certificate
        case "certificateLevel": certificateLevel
        case "freshness": freshness
        case "stale": stale
        case "never": never
        case "problems": problems
        case "hasProblems": !problems.isEmpty
        case "bars": bars
        case "vms": vms
        case "hosts": hosts
        default: nil
        }
    }
}

extension DashboardPage.MatrixRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "template": template
        case "cells": cells
        default: nil
        }
    }
}

extension DashboardPage.View: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "generated": generated
        case "regionCount": regionCount
        case "staleNote": staleNote
        case "totals": totals
        case "vms": vms
        case "hosts": hosts
        case "regions": regions
        case "capacityChart": capacityChart
        case "vmChart": vmChart
        case "sites": sites
        case "matrix": matrix
        case "hasMatrix": hasMatrix
        case "hasStaleHistory": hasStaleHistory
        default: nil
        }
    }
}
