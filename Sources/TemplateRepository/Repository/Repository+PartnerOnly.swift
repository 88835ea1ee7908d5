import Core
import Foundation
import SQLKit
import Storage

/// Partner-only templates (licensed images, say): the signed catalog still lists them — names and digests are
/// safe to publish — but their manifests, and the chunks no public template shares, are served only to
/// authenticated callers. `restricted_chunks` holds those chunks; it is drawn again in the transaction of every
/// change that can move it (a commit, a state change, a template made partner-only or public again).
extension Repository {
    /// Marks a template partner-only (or public again).
    /// - Throws: ``TemplateRepositoryError`` `notFound` for an unknown template.
    public func setPartnerOnly(_ name: String, _ partnerOnly: Bool) async throws {
        try TemplateName.validate(name, kind: "Template name")
        try await database.transaction { db in
            guard try await db.raw("SELECT name FROM templates WHERE name = \(bind: name)").first() != nil else {
                throw TemplateRepositoryError.notFound(name: name, version: nil)
            }
            try await db.raw("UPDATE templates SET partner_only = \(bind: partnerOnly ? 1 : 0) WHERE name = \(bind: name)").run()
            try await Self.refreshRestrictedChunks(db)
        }
    }

    /// Whether the template is partner-only (false for an unknown one: its answers are 404s anyway).
    public func isPartnerOnly(_ name: String) async throws -> Bool {
        try await database.withDatabase { db in
            try await db.raw("SELECT partner_only FROM templates WHERE name = \(bind: name)").first(decodingColumn: "partner_only", as: Int.self) == 1
        }
    }

    /// The partner-only templates, by name.
    public func partnerOnlyTemplates() async throws -> [String] {
        try await database.withDatabase { db in
            try await db.raw("SELECT name FROM templates WHERE partner_only = 1 ORDER BY name").all().map {
                try $0.decode(column: "name", as: String.self)
            }
        }
    }

    /// Whether a chunk belongs only to partner-only templates (then only authenticated callers get it).
    public func isRestricted(chunk digest: String) async throws -> Bool {
        try await database.withDatabase { db in
            try await db.raw("SELECT digest FROM restricted_chunks WHERE digest = \(bind: digest)").first() != nil
        }
    }

    /// Draws `restricted_chunks` again: the chunks of partner-only templates' versions that no public template's
    /// version shares. Without partner-only templates (the usual case) it only empties the table.
    static func refreshRestrictedChunks(_ db: any SQLDatabase) async throws {
        func digests(partnerOnly: Bool) async throws -> [String] {
            try await db.raw(
                """
                SELECT d.digests FROM version_digests d JOIN versions v ON v.seq = d.version_seq JOIN templates t ON t.name = v.name
                WHERE t.partner_only = \(bind: partnerOnly ? 1 : 0) AND v.state != 'withdrawn'
                """
            ).all().flatMap { try VersionDigests.decode(try $0.decode(column: "digests", as: String.self)) }
        }
        try await db.raw("DELETE FROM restricted_chunks").run()
        let restricted = Set(try await digests(partnerOnly: true))
        guard !restricted.isEmpty else { return }
        let only = restricted.subtracting(try await digests(partnerOnly: false)).sorted()
        for start in stride(from: 0, to: only.count, by: 500) {
            let batch = only[start..<min(start + 500, only.count)]
            var query = SQLQueryString("INSERT INTO restricted_chunks (digest) VALUES ")
            for (index, digest) in batch.enumerated() {
                if index > 0 { query.appendLiteral(", ") }
                query.appendLiteral("(")
                query.appendInterpolation(bind: digest)
                query.appendLiteral(")")
            }
            try await db.raw(query).run()
        }
    }
}
