import Core
import Foundation
import HummingbirdBcrypt
import NIOPosix
import SQLKit
import Storage

/// People: federation and partner admins, teachers and students, each with a bcrypt password hash, and the web
/// sessions they log in to. Sessions live in the database (every server instance sees them) and are stored as
/// the SHA-256 of their cookie; failed logins are counted per account and per source address
/// (``LoginThrottle``).
///
/// ```swift
/// try await users.add(username: "ada", role: .teacher, scope: nil, password: "correct horse battery")
/// let session = try await users.login(username: "ada", password: "correct horse battery", source: "127.0.0.1")
/// let (principal, csrf) = try await users.authenticate(session: session.secret)!
/// ```
public struct UserStore: Sendable {
    public static let migrations: [Migration] = [
        Migration(
            version: 1003,
            [
                """
                CREATE TABLE users (
                    username TEXT PRIMARY KEY,
                    display_name TEXT NOT NULL,
                    email TEXT NOT NULL,
                    role TEXT NOT NULL,
                    scope TEXT,
                    password_bcrypt TEXT NOT NULL,
                    created DOUBLE PRECISION NOT NULL,
                    password_changed DOUBLE PRECISION NOT NULL,
                    disabled DOUBLE PRECISION,
                    last_login DOUBLE PRECISION
                )
                """,
                """
                CREATE TABLE user_sessions (
                    secret_sha256 TEXT PRIMARY KEY,
                    username TEXT NOT NULL,
                    csrf TEXT NOT NULL,
                    source TEXT NOT NULL,
                    created DOUBLE PRECISION NOT NULL,
                    last_seen DOUBLE PRECISION NOT NULL,
                    expires DOUBLE PRECISION NOT NULL
                )
                """,
                "CREATE INDEX user_sessions_username ON user_sessions (username)",
                """
                CREATE TABLE login_failures (
                    subject TEXT PRIMARY KEY,
                    failures BIGINT NOT NULL,
                    last_failure DOUBLE PRECISION NOT NULL,
                    locked_until DOUBLE PRECISION
                )
                """,
            ])
    ]

    /// A user as listed (never the hash).
    public struct User: Sendable, Hashable, Codable {
        public var username: String
        public var displayName: String
        public var email: String
        public var role: Role
        /// The region id of a partner admin; a teacher's or student's home region, if any.
        public var scope: String?
        public var created: String
        public var passwordChanged: String
        public var disabled: String?
        public var lastLogin: String?

        /// The principal a session of this user stands for (`user:NAME` in the audit log).
        public var principal: Principal { Principal(id: "user:\(username)", role: role, scope: scope) }
    }

    /// A session just opened: its cookie value (shown to the browser once) and its CSRF token.
    public struct Session: Sendable, Hashable {
        public var secret: String
        public var csrf: String
        public var user: User
        public var expires: Date
    }

    /// How long sessions last and how logins are throttled.
    public struct Settings: Sendable, Hashable {
        /// A session ends after this long without a request…
        public var idleTimeout: TimeInterval = 30 * 60
        /// …and after this long in any case.
        public var absoluteTimeout: TimeInterval = 12 * 3600
        public var rules = PasswordRules()
        public var accountThrottle = LoginThrottle.perAccount
        public var addressThrottle = LoginThrottle.perAddress
        /// bcrypt's cost (log2 rounds): 12 takes about a quarter second here.
        public var bcryptCost: UInt8 = 12

        public init() {}
    }

    let database: any SQLStore
    public let settings: Settings
    /// A bcrypt hash (at the settings' cost) no password was made for, checked against for unknown names.
    private let decoy: String

    public static func open(database: any SQLStore, settings: Settings = Settings()) async throws -> UserStore {
        try await Migrator(migrations: migrations).apply(to: database)
        let cost = settings.bcryptCost
        let decoy = try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(SystemRandomNumberGenerator.bytes(16).hexString, cost: cost) }
        return UserStore(database: database, settings: settings, decoy: decoy)
    }

    // MARK: Users

    /// Adds a user.
    /// - Throws: ``AccessError`` for a bad name, a taken name, a weak password, a role people cannot have, or a
    ///   scope that does not fit the role (a partner admin needs a region; others may name a home region).
    @discardableResult
    public func add(
        username: String, displayName: String = "", email: String = "", role: Role, scope: String?, password: String, now: Date = Date()
    ) async throws -> User {
        try Self.checkName(username)
        guard role != .siteAgent else { throw AccessError.noUserRole(role) }
        guard role != .partnerAdmin || scope != nil, role != .federationAdmin || scope == nil, scope.map({ (1...128).contains($0.count) }) ?? true
        else { throw AccessError.badScope(role: role, scope: scope) }
        guard displayName.count <= 128, email.count <= 254, !(displayName + email).contains(where: \.isNewline) else {
            throw AccessError.badName(displayName.count > 128 ? displayName : email)
        }
        if let problem = settings.rules.problem(password, username: username) { throw problem }
        let hash = try await hash(password)
        let time = now.timeIntervalSince1970
        try await database.transaction { db in
            guard try await db.raw("SELECT username FROM users WHERE username = \(bind: username)").first() == nil else {
                throw AccessError.userExists(username)
            }
            try await db.raw(
                """
                INSERT INTO users (username, display_name, email, role, scope, password_bcrypt, created, password_changed)
                VALUES (\(bind: username), \(bind: displayName), \(bind: email), \(bind: role.rawValue), \(bind: scope), \(bind: hash),
                        \(bind: time), \(bind: time))
                """
            ).run()
        }
        return try await user(username)
    }

    /// The user with this name.
    /// - Throws: ``AccessError/unknownUser(_:)``.
    public func user(_ username: String) async throws -> User {
        let row = try await database.withDatabase { db in try await db.raw("SELECT * FROM users WHERE username = \(bind: username)").first() }
        guard let row else { throw AccessError.unknownUser(username) }
        return try Self.user(row)
    }

    /// Every user, or those of one region (`scope`), by name.
    public func list(scope: String? = nil) async throws -> [User] {
        try await database.withDatabase { db in
            let rows =
                if let scope {
                    try await db.raw("SELECT * FROM users WHERE scope = \(bind: scope) ORDER BY username").all()
                } else {
                    try await db.raw("SELECT * FROM users ORDER BY username").all()
                }
            return try rows.map(Self.user)
        }
    }

    /// Whether any federation admin can log in (`mclouds admin create` is for a federation without one).
    public func hasAdmin() async throws -> Bool {
        try await database.withDatabase { db in
            try await db.raw(
                "SELECT username FROM users WHERE role = \(bind: Role.federationAdmin.rawValue) AND disabled IS NULL"
            ).first() != nil
        }
    }

    /// Disables (or enables again) an account; disabling ends its sessions at once.
    public func setDisabled(_ username: String, _ disabled: Bool, now: Date = Date()) async throws {
        try await database.transaction { db in
            guard try await db.raw("SELECT username FROM users WHERE username = \(bind: username)").first() != nil else {
                throw AccessError.unknownUser(username)
            }
            if disabled {
                try await db.raw(
                    "UPDATE users SET disabled = \(bind: now.timeIntervalSince1970) WHERE username = \(bind: username) AND disabled IS NULL"
                ).run()
                try await db.raw("DELETE FROM user_sessions WHERE username = \(bind: username)").run()
            } else {
                try await db.raw("UPDATE users SET disabled = NULL WHERE username = \(bind: username)").run()
            }
        }
    }

    /// Sets a new password: every session of the user ends and a login lock on the account is lifted.
    /// - Throws: ``AccessError`` for an unknown user or a weak password.
    public func setPassword(_ username: String, _ password: String, now: Date = Date()) async throws {
        _ = try await user(username)
        if let problem = settings.rules.problem(password, username: username) { throw problem }
        let hash = try await hash(password)
        try await database.transaction { db in
            try await db.raw(
                "UPDATE users SET password_bcrypt = \(bind: hash), password_changed = \(bind: now.timeIntervalSince1970) WHERE username = \(bind: username)"
            ).run()
            try await db.raw("DELETE FROM user_sessions WHERE username = \(bind: username)").run()
            try await db.raw("DELETE FROM login_failures WHERE subject = \(bind: Self.accountKey(username))").run()
        }
    }

    /// Changes one's own password, proving the current one (a stolen session alone cannot take the account).
    public func changePassword(_ username: String, current: String, new: String, now: Date = Date()) async throws {
        let row = try await database.withDatabase { db in
            try await db.raw("SELECT password_bcrypt FROM users WHERE username = \(bind: username)").first()
        }
        guard let row, try await verify(current, hash: row.decode(column: "password_bcrypt", as: String.self)) else {
            throw AccessError.badCredentials
        }
        try await setPassword(username, new, now: now)
    }

    // MARK: Sessions

    /// Checks the password and opens a session, unless this account or this source address has failed too often
    /// lately (then nothing is checked, so that guessing on goes nowhere).
    /// - Throws: ``AccessError`` `throttled`, `locked`, `badCredentials` (unknown name or wrong password, not told
    ///   apart), `disabled` (only after a right password).
    public func login(username: String, password: String, source: String, now: Date = Date()) async throws -> Session {
        let keys = [(Self.accountKey(username), settings.accountThrottle), ("address:\(source)", settings.addressThrottle)]
        for (key, throttle) in keys {
            let row = try await database.withDatabase { db in try await db.raw("SELECT * FROM login_failures WHERE subject = \(bind: key)").first() }
            guard let row else { continue }
            let verdict = throttle.verdict(
                failures: try row.decode(column: "failures", as: Int.self),
                lastFailure: Date(timeIntervalSince1970: try row.decode(column: "last_failure", as: Double.self)),
                lockedUntil: try row.decode(column: "locked_until", as: Double?.self).map(Date.init(timeIntervalSince1970:)), now: now)
            switch verdict {
            case .allowed: continue
            case .wait(let seconds): throw AccessError.throttled(seconds: seconds)
            case .locked(let until): throw AccessError.locked(until: until)
            }
        }
        let row = try await database.withDatabase { db in try await db.raw("SELECT * FROM users WHERE username = \(bind: username)").first() }
        // An unknown name costs a bcrypt check too, so that timing does not tell which names exist.
        let stored = try row?.decode(column: "password_bcrypt", as: String.self) ?? decoy
        guard try await verify(password, hash: stored), let row else {
            try await recordFailure(keys, now: now)
            throw AccessError.badCredentials
        }
        let user = try Self.user(row)
        guard user.disabled == nil else { throw AccessError.disabled }
        let secret = SystemRandomNumberGenerator.bytes(32).hexString
        let csrf = SystemRandomNumberGenerator.bytes(32).hexString
        let time = now.timeIntervalSince1970
        let expires = now.addingTimeInterval(settings.absoluteTimeout)
        try await database.transaction { db in
            try await db.raw(
                """
                INSERT INTO user_sessions (secret_sha256, username, csrf, source, created, last_seen, expires)
                VALUES (\(bind: TokenStore.digest(secret)), \(bind: username), \(bind: csrf), \(bind: source), \(bind: time), \(bind: time),
                        \(bind: expires.timeIntervalSince1970))
                """
            ).run()
            try await db.raw("UPDATE users SET last_login = \(bind: time) WHERE username = \(bind: username)").run()
            try await db.raw("DELETE FROM login_failures WHERE subject = \(bind: Self.accountKey(username))").run()
            // Ended sessions go when someone logs in, so the table holds only live ones and those of the last day.
            try await db.raw("DELETE FROM user_sessions WHERE expires < \(bind: time - 86_400)").run()
        }
        return Session(secret: secret, csrf: csrf, user: user, expires: expires)
    }

    /// The user and CSRF token of a live session cookie; nil when unknown, ended, idle too long, or its user is
    /// disabled. Keeps an active session alive (written at most once a minute).
    public func authenticate(session secret: String, now: Date = Date()) async throws -> (user: User, csrf: String)? {
        guard secret.count == 64, secret.allSatisfy(\.isHexDigit) else { return nil }
        let digest = TokenStore.digest(secret)
        let time = now.timeIntervalSince1970
        let row = try await database.withDatabase { db in
            try await db.raw(
                """
                SELECT s.csrf, s.last_seen, s.expires, u.* FROM user_sessions s JOIN users u ON u.username = s.username
                WHERE s.secret_sha256 = \(bind: digest)
                """
            ).first()
        }
        guard let row, try row.decode(column: "expires", as: Double.self) > time,
            try row.decode(column: "last_seen", as: Double.self) + settings.idleTimeout > time
        else { return nil }
        let user = try Self.user(row)
        guard user.disabled == nil else { return nil }
        if try row.decode(column: "last_seen", as: Double.self) < time - 60 {
            try await database.transaction { db in
                try await db.raw("UPDATE user_sessions SET last_seen = \(bind: time) WHERE secret_sha256 = \(bind: digest)").run()
            }
        }
        return (user, try row.decode(column: "csrf", as: String.self))
    }

    /// Ends a session (logout).
    public func logout(session secret: String) async throws {
        try await database.transaction { db in
            try await db.raw("DELETE FROM user_sessions WHERE secret_sha256 = \(bind: TokenStore.digest(secret))").run()
        }
    }

    // MARK: Helpers

    private func recordFailure(_ keys: [(String, LoginThrottle)], now: Date) async throws {
        try await database.transaction { db in
            for (key, throttle) in keys {
                let row = try await db.raw("SELECT * FROM login_failures WHERE subject = \(bind: key)").first()
                let next = throttle.failing(
                    failures: try row?.decode(column: "failures", as: Int.self) ?? 0,
                    lastFailure: try row.map { Date(timeIntervalSince1970: try $0.decode(column: "last_failure", as: Double.self)) },
                    lockedUntil: try row?.decode(column: "locked_until", as: Double?.self).map(Date.init(timeIntervalSince1970:)), now: now)
                try await db.raw(
                    """
                    INSERT INTO login_failures (subject, failures, last_failure, locked_until)
                    VALUES (\(bind: key), \(bind: next.failures), \(bind: now.timeIntervalSince1970), \(bind: next.lockedUntil?.timeIntervalSince1970))
                    ON CONFLICT (subject) DO UPDATE SET failures = excluded.failures, last_failure = excluded.last_failure,
                        locked_until = excluded.locked_until
                    """
                ).run()
            }
        }
    }

    private func hash(_ password: String) async throws -> String {
        let cost = settings.bcryptCost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    private func verify(_ password: String, hash: String) async throws -> Bool {
        // bcrypt reads 72 bytes; a longer password could never have been set, so it is wrong.
        guard password.utf8.count <= PasswordRules.maximumBytes else { return false }
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    static func accountKey(_ username: String) -> String { "account:\(username.lowercased())" }

    static func checkName(_ name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-")
        guard (1...64).contains(name.count), name.allSatisfy(allowed.contains), name.first!.isLetter || name.first!.isNumber else {
            throw AccessError.badUsername(name)
        }
    }

    static func user(_ row: any SQLRow) throws -> User {
        func time(_ column: String) throws -> String? {
            try row.decode(column: column, as: Double?.self).map { Timestamps.string(from: Date(timeIntervalSince1970: $0)) }
        }
        return User(
            username: try row.decode(column: "username", as: String.self), displayName: try row.decode(column: "display_name", as: String.self),
            email: try row.decode(column: "email", as: String.self),
            role: Role(rawValue: try row.decode(column: "role", as: String.self)) ?? .student,
            scope: try row.decode(column: "scope", as: String?.self),
            created: try time("created") ?? "", passwordChanged: try time("password_changed") ?? "", disabled: try time("disabled"),
            lastLogin: try time("last_login"))
    }
}
