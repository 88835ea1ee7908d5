/// What went wrong with an identity, a token or the audit log, and what to do about it.
public struct AccessError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Kind: Sendable, Equatable {
        case unknownToken(String)
        case badScope(role: String, scope: String?)
        case badExpiry
        case auditBroken(sequence: Int)
        case badName(String)
    }

    private let kind: Kind

    private init(_ kind: Kind) { self.kind = kind }

    /// No token with this id.
    public static func unknownToken(_ id: String) -> AccessError { AccessError(.unknownToken(id)) }
    /// A partner admin needs a region id, a site agent a site name; the other roles take none.
    public static func badScope(role: Role, scope: String?) -> AccessError { AccessError(.badScope(role: role.rawValue, scope: scope)) }
    /// An expiry in the past, or further than a year ahead.
    public static let badExpiry = AccessError(.badExpiry)
    /// The audit log's hash chain breaks at this row: a row was edited, deleted or inserted.
    public static func auditBroken(sequence: Int) -> AccessError { AccessError(.auditBroken(sequence: sequence)) }
    /// A token name outside 1–64 printable characters.
    public static func badName(_ name: String) -> AccessError { AccessError(.badName(name)) }

    public var description: String {
        switch kind {
        case .unknownToken(let id): "There is no token \(id): `mclouds token list` shows the tokens."
        case .badScope(let role, let scope):
            switch role {
            case Role.partnerAdmin.rawValue: "A partner admin token needs --region ID (the region it administers)."
            case Role.siteAgent.rawValue: "A site agent token needs --site NAME (the site it reports for)."
            default: "A \(role) token takes no scope (got \(scope ?? ""))."
            }
        case .badExpiry: "A token's expiry must be in the future and at most 366 days ahead."
        case .auditBroken(let sequence):
            "The audit log's hash chain breaks at entry \(sequence): an entry was edited, deleted or inserted there. Restore the database from a backup and compare."
        case .badName(let name): "A token name must be 1–64 printable characters (got \(name.count))."
        }
    }
}
