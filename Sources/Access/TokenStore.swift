import Core
import Crypto
import Foundation
import SQLKit
import Storage

/// API tokens for the CLI, agents and scripts: 256 random bits, shown once when made, stored only as their
/// SHA-256; each with a role, an optional scope, an expiry, the time it was last used, and revocation.
///
/// ```swift
/// let (token, secret) = try await tokens.create(name: "agent MECA-TUS", role: .siteAgent, scope: "MECA-TUS", expires: nextYear)
/// let principal = try await tokens.authenticate(secret)   // nil: unknown, expired or revoked
/// ```
public struct TokenStore: Sendable {
    public static let migrations: [Migration] = [
        Migration(
            version: 1001,
            [
                """
                CREATE TABLE access_tokens (
                    id TEXT PRIMARY KEY,
                    secret_sha256 TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL,
                    scope TEXT,
                    created DOUBLE PRECISION NOT NULL,
                    expires DOUBLE PRECISION NOT NULL,
                    last_used DOUBLE PRECISION,
                    revoked DOUBLE PRECISION
                )
                """
            ])
    ]

    /// A token as listed (never its secret).
    public struct Token: Sendable, Hashable, Codable {
        public var id: String
        public var name: String
        public var role: Role
        public var scope: String?
        public var created: String
        public var expires: String
        public var lastUsed: String?
        public var revoked: String?
    }

    /// The prefix of every token secret (so that scanners and people recognise one).
    public static let prefix = "mclouds_"

    let database: any SQLStore

    public static func open(database: any SQLStore) async throws -> TokenStore {
        try await Migrator(migrations: migrations).apply(to: database)
        return TokenStore(database: database)
    }

    /// Makes a token. The secret is returned here only; the store keeps its SHA-256.
    /// - Throws: ``AccessError`` for a scope that does not fit the role, a bad name or expiry.
    public func create(name: String, role: Role, scope: String?, expires: Date, now: Date = Date()) async throws -> (Token, secret: String) {
        guard (1...64).contains(name.count), name.allSatisfy({ !$0.isNewline && !($0.asciiValue.map { $0 < 32 } ?? false) }) else {
            throw AccessError.badName(name)
        }
        guard role.needsScope == (scope != nil), scope.map({ (1...128).contains($0.count) }) ?? true else {
            throw AccessError.badScope(role: role, scope: scope)
        }
        guard expires > now, expires.timeIntervalSince(now) <= 366 * 86_400 else { throw AccessError.badExpiry }
        let id = SystemRandomNumberGenerator.bytes(6).hexString
        let secret = Self.prefix + SystemRandomNumberGenerator.bytes(32).hexString
        try await database.transaction { db in
            try await db.raw(
                """
                INSERT INTO access_tokens (id, secret_sha256, name, role, scope, created, expires)
                VALUES (\(bind: id), \(bind: Self.digest(secret)), \(bind: name), \(bind: role.rawValue), \(bind: scope),
                        \(bind: now.timeIntervalSince1970), \(bind: expires.timeIntervalSince1970))
                """
            ).run()
        }
        let token = Token(
            id: id, name: name, role: role, scope: scope, created: Timestamps.string(from: now), expires: Timestamps.string(from: expires))
        return (token, secret)
    }

    /// The principal a secret stands for, or `nil` when it is unknown, expired or revoked. Records when it was
    /// used (at most once a minute per token, so reads do not become writes).
    public func authenticate(_ secret: String, now: Date = Date()) async throws -> Principal? {
        guard secret.hasPrefix(Self.prefix), secret.count == Self.prefix.count + 64 else { return nil }
        let digest = Self.digest(secret)
        let row = try await database.withDatabase { db in
            try await db.raw("SELECT id, role, scope, expires, last_used, revoked FROM access_tokens WHERE secret_sha256 = \(bind: digest)").first()
        }
        guard let row, try row.decode(column: "revoked", as: Double?.self) == nil,
            try row.decode(column: "expires", as: Double.self) > now.timeIntervalSince1970,
            let role = Role(rawValue: try row.decode(column: "role", as: String.self))
        else { return nil }
        let id = try row.decode(column: "id", as: String.self)
        if (try row.decode(column: "last_used", as: Double?.self) ?? 0) < now.timeIntervalSince1970 - 60 {
            try await database.transaction { db in
                try await db.raw("UPDATE access_tokens SET last_used = \(bind: now.timeIntervalSince1970) WHERE id = \(bind: id)").run()
            }
        }
        return Principal(id: id, role: role, scope: try row.decode(column: "scope", as: String?.self))
    }

    /// Every token, newest first.
    public func list() async throws -> [Token] {
        try await database.withDatabase { db in
            try await db.raw("SELECT * FROM access_tokens ORDER BY created DESC, id").all().map { row in
                func time(_ column: String) throws -> String? {
                    try row.decode(column: column, as: Double?.self).map { Timestamps.string(from: Date(timeIntervalSince1970: $0)) }
                }
                return Token(
                    id: try row.decode(column: "id", as: String.self), name: try row.decode(column: "name", as: String.self),
                    role: Role(rawValue: try row.decode(column: "role", as: String.self)) ?? .student,
                    scope: try row.decode(column: "scope", as: String?.self), created: try time("created") ?? "", expires: try time("expires") ?? "",
                    lastUsed: try time("last_used"), revoked: try time("revoked"))
            }
        }
    }

    /// Revokes a token at once (it stays listed, marked).
    /// - Throws: ``AccessError/unknownToken(_:)``.
    public func revoke(_ id: String, now: Date = Date()) async throws {
        try await database.transaction { db in
            guard try await db.raw("SELECT id FROM access_tokens WHERE id = \(bind: id)").first() != nil else { throw AccessError.unknownToken(id) }
            try await db.raw(
                "UPDATE access_tokens SET revoked = \(bind: now.timeIntervalSince1970) WHERE id = \(bind: id) AND revoked IS NULL"
            ).run()
        }
    }

    static func digest(_ secret: String) -> String { SHA256.hash(data: Array(secret.utf8)).hexString }
}

extension SystemRandomNumberGenerator {
    /// `count` bytes from the system's cryptographic generator.
    static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
