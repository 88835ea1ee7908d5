import Core
import Foundation
import TemplateRepository

/// The agents' reports as Prometheus families: how many kept versions each site has in each state, how many
/// report an error (a failed pass), and how old each site's last report is at the time of the scrape.
enum RolloutMetrics {
    /// Versions per site, template and state, and versions whose last pass failed.
    static func exposition(_ states: [SiteTemplateState], into text: inout PrometheusText) {
        var counts: [[String]: Int] = [:]
        var errors: [String: Int] = [:]
        for state in states {
            counts[[state.site, state.template, state.state], default: 0] += 1
            errors[state.site, default: 0] += state.error == nil ? 0 : 1
        }
        text.gauge(
            "mclouds_rollout_versions", help: "Template versions a site reports, by template and state (ready, failed, fetching …).",
            counts.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map {
                ([("site", $0.key[0]), ("template", $0.key[1]), ("state", $0.key[2])], Double($0.value))
            })
        text.gauge(
            "mclouds_site_failed_versions", help: "Versions whose last agent pass at the site reported an error.",
            errors.sorted { $0.key < $1.key }.map { ([("site", $0.key)], Double($0.value)) })
    }

    /// Each site's latest report.
    static func latestReports(_ states: [SiteTemplateState]) -> [(site: String, reported: Date)] {
        var latest: [String: Date] = [:]
        for state in states {
            if let reported = state.reported.flatMap(Timestamps.date(from:)) { latest[state.site] = max(latest[state.site] ?? reported, reported) }
        }
        return latest.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The age of each site's last report at `now` (the time of the scrape).
    static func ageExposition(_ latest: [(site: String, reported: Date)], now: Date, into text: inout PrometheusText) {
        text.gauge(
            "mclouds_site_report_age_seconds", help: "Age of the site agent's last report at the time of this scrape.",
            latest.map { ([("site", $0.site)], max(0, now.timeIntervalSince($0.reported))) })
    }
}
