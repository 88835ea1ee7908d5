import Core
import Foundation
import SQLKit
import Storage

/// Site reports: what each site's agent says of the versions it keeps, and the rollout matrix made of them.
extension Repository {

    /// Records what a site's agent reports after a pass (the latest per site, template and version).
    public func recordReport(site: String, _ states: [SiteTemplateState]) async throws {
        try TemplateName.validate(site, kind: "Site name")
        guard states.count <= 10_000 else {
            throw TemplateRepositoryError.malformed(document: "site report", reason: "\(states.count) entries are more than 10,000")
        }
        for (index, state) in states.enumerated() { try state.validate(index: index) }
        let now = Timestamps.string(from: Date())
        try await database.transaction { db in
            // Only versions this repository published (in any state) may be reported: junk never reaches the rollout matrix.
            for (index, state) in states.enumerated() {
                let known = try await db.raw(
                    "SELECT 1 AS found FROM versions WHERE name = \(bind: state.template) AND version = \(bind: state.version)"
                ).first()
                guard known != nil else {
                    throw TemplateRepositoryError.malformed(
                        document: "site report entry \(index + 1)", reason: "\(state.template)@\(state.version) is not a version of this repository")
                }
            }
            for state in states {
                try await db.raw(
                    """
                    INSERT INTO site_reports (site, template, version, state, bytes_downloaded, bytes_reused, error, reported)
                    VALUES (\(bind: site), \(bind: state.template), \(bind: state.version), \(bind: state.state), \(bind: state.bytesDownloaded),
                        \(bind: state.bytesReused), \(bind: state.error), \(bind: now))
                    ON CONFLICT (site, template, version) DO UPDATE SET state = excluded.state, bytes_downloaded = excluded.bytes_downloaded,
                        bytes_reused = excluded.bytes_reused, error = excluded.error, reported = excluded.reported
                    """
                ).run()
            }
        }
    }

    /// Every site's latest report per template version.
    /// Changes whenever a site reports: what a cache of anything drawn from ``rollout()`` is keyed by.
    public func rolloutRevision() async throws -> String {
        try await database.withDatabase { db in
            guard let row = try await db.raw("SELECT COUNT(*) AS n, MAX(reported) AS latest FROM site_reports").first() else { return "0" }
            return "\(try row.decode(column: "n", as: Int.self))|\(try row.decode(column: "latest", as: String?.self) ?? "")"
        }
    }

    public func rollout() async throws -> [SiteTemplateState] {
        try await database.withDatabase { db in
            try await db.raw("SELECT * FROM site_reports ORDER BY template, version, site").all().map { row in
                SiteTemplateState(
                    site: try row.decode(column: "site", as: String.self), template: try row.decode(column: "template", as: String.self),
                    version: try row.decode(column: "version", as: String.self), state: try row.decode(column: "state", as: String.self),
                    bytesDownloaded: try row.decode(column: "bytes_downloaded", as: Int64.self),
                    bytesReused: try row.decode(column: "bytes_reused", as: Int64.self), error: try row.decode(column: "error", as: String?.self),
                    reported: try row.decode(column: "reported", as: String.self))
            }
        }
    }
}
