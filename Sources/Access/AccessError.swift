import Core
import Foundation

/// What went wrong with an identity, a token or the audit log, and what to do about it.
public struct AccessError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Kind: Sendable, Equatable {
        case unknownToken(String)
        case badScope(role: String, scope: String?)
        case badExpiry
        case auditBroken(sequence: Int)
        case badName(String)
        case weakPassword(PasswordProblem)
        case badCredentials
        case throttled(seconds: Int)
        case locked(until: String)
        case unknownUser(String)
        case userExists(String)
        case badUsername(String)
        case noUserRole(String)
        case disabled
    }

    /// What is wrong with a new password.
    public enum PasswordProblem: Sendable, Equatable {
        case tooShort(Int)
        case tooLong(Int)
        case containsUsername
        case tooSimple
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

    /// A password that breaks the rules (``PasswordRules``).
    public static func weakPassword(_ problem: PasswordProblem) -> AccessError { AccessError(.weakPassword(problem)) }
    /// A login with an unknown user name or a wrong password (which of the two is not told).
    public static let badCredentials = AccessError(.badCredentials)
    /// Too many failed logins lately: wait this many seconds.
    public static func throttled(seconds: Int) -> AccessError { AccessError(.throttled(seconds: seconds)) }
    /// Locked after too many failed logins, until then.
    public static func locked(until: Date) -> AccessError { AccessError(.locked(until: Timestamps.string(from: until))) }
    /// No user with this name.
    public static func unknownUser(_ name: String) -> AccessError { AccessError(.unknownUser(name)) }
    /// A user with this name exists.
    public static func userExists(_ name: String) -> AccessError { AccessError(.userExists(name)) }
    /// A user name outside the rules.
    public static func badUsername(_ name: String) -> AccessError { AccessError(.badUsername(name)) }
    /// A role people do not have (site agents are tokens).
    public static func noUserRole(_ role: Role) -> AccessError { AccessError(.noUserRole(role.rawValue)) }
    /// The account is disabled.
    public static let disabled = AccessError(.disabled)

    /// What kind of failure this is, for protocols that answer with a status.
    public enum Category: Sendable, Equatable {
        case invalid, unauthenticated, forbidden, notFound, conflict, throttled, broken
    }

    public var category: Category {
        switch kind {
        case .unknownToken, .unknownUser: .notFound
        case .badScope, .badExpiry, .badName, .weakPassword, .badUsername, .noUserRole: .invalid
        case .auditBroken: .broken
        case .badCredentials: .unauthenticated
        case .throttled, .locked: .throttled
        case .userExists: .conflict
        case .disabled: .forbidden
        }
    }

    /// Seconds to wait before trying again (throttled logins).
    public var retryAfter: Int? {
        if case .throttled(let seconds) = kind { return seconds }
        if case .locked(let until) = kind, let date = Timestamps.date(from: until) { return max(1, Int(date.timeIntervalSinceNow.rounded(.up))) }
        return nil
    }

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
        case .weakPassword(.tooShort(let length)): "The password is too short: use at least \(length) characters (a few words make a good one)."
        case .weakPassword(.tooLong(let bytes)): "The password is too long: at most \(bytes) bytes are used by bcrypt, so longer ones are refused."
        case .weakPassword(.containsUsername): "The password must not contain the user name."
        case .weakPassword(.tooSimple): "The password is too simple: use at least four different characters."
        case .badCredentials: "The user name or the password is wrong."
        case .throttled(let seconds): "Too many failed logins: wait \(seconds) s before the next try."
        case .locked(let until):
            "Too many failed logins: logging in is locked until \(until). An administrator can unlock it sooner with `mclouds user reset-password`."
        case .unknownUser(let name): "There is no user \(name): `mclouds user list` shows the users."
        case .userExists(let name): "There is already a user \(name)."
        case .badUsername(let name):
            "A user name is 1–64 characters of a–z, 0–9, '.', '_' and '-', starting with a letter or digit (got \"\(name.prefix(64))\")."
        case .noUserRole(let role): "A user cannot have the role \(role): site agents authenticate with tokens (`mclouds token create`)."
        case .disabled: "This account is disabled: ask an administrator."
        }
    }
}
