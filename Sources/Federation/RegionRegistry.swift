import Core
import Foundation
import SQLKit
import Storage

/// The federation's region list, stored through SQLKit (tables `federation_*`, migrations from 101).
/// Secrets are sealed with a ``SecretBox`` before they reach the database.
public struct RegionRegistry: Sendable {
    static let migrations: [Migration] = [
        Migration(
            version: 101,
            [
                """
                CREATE TABLE federation_regions (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    endpoint TEXT NOT NULL,
                    portable_ip INTEGER NOT NULL,
                    gslb INTEGER NOT NULL,
                    api_key TEXT NOT NULL,
                    secret_sealed TEXT NOT NULL,
                    contact TEXT,
                    notes TEXT,
                    created TEXT NOT NULL,
                    updated TEXT NOT NULL
                )
                """
            ]),
        Migration(
            version: 102,
            [
                // Grows with every change of the registry: what caches of anything drawn from it are keyed by.
                "CREATE TABLE federation_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision BIGINT NOT NULL)",
                "INSERT INTO federation_revision (id, revision) VALUES (1, 0)",
            ]),
        Migration(
            version: 103,
            [
                // The partner's networks, CIDRs joined by ",".
                "ALTER TABLE federation_regions ADD COLUMN networks TEXT NOT NULL DEFAULT ''"
            ]),
        Migration(
            version: 104,
            [
                // 0: the region's API certificate is not verified (an explicit, logged setting).
                "ALTER TABLE federation_regions ADD COLUMN verify_tls INTEGER NOT NULL DEFAULT 1"
            ]),
    ]

    /// What `update` may change; `nil` leaves a field as it is.
    public struct Changes: Sendable, Codable, Equatable {
        public var name: String?
        public var endpoint: String?
        public var portableIPEnabled: Bool?
        public var gslbEnabled: Bool?
        public var apiKey: String?
        public var secretKey: String?
        public var contact: String?
        public var notes: String?
        /// The partner's networks (replacing the list).
        public var networks: [String]?
        /// Whether the region's API certificate is verified.
        public var verifyTLS: Bool?

        public init(
            name: String? = nil, endpoint: String? = nil, portableIPEnabled: Bool? = nil, gslbEnabled: Bool? = nil, apiKey: String? = nil,
            secretKey: String? = nil, contact: String? = nil, notes: String? = nil, networks: [String]? = nil, verifyTLS: Bool? = nil
        ) {
            self.networks = networks
            self.verifyTLS = verifyTLS
            self.name = name
            self.endpoint = endpoint
            self.portableIPEnabled = portableIPEnabled
            self.gslbEnabled = gslbEnabled
            self.apiKey = apiKey
            self.secretKey = secretKey
            self.contact = contact
            self.notes = notes
        }
    }

    let database: any SQLStore
    /// Seals the secrets kept here (and, for the classroom, the seats' passwords).
    public let secrets: SecretBox

    /// Applies the registry's migrations and returns it.
    public static func open(database: any SQLStore, secrets: SecretBox) async throws -> RegionRegistry {
        try await Migrator(migrations: migrations).apply(to: database)
        return RegionRegistry(database: database, secrets: secrets)
    }

    /// Adds a region.
    /// - Throws: ``FederationError`` `invalid` for bad fields, `conflict` when the id or name is taken.
    public func add(_ region: FederationRegion, secretKey: String) async throws {
        try region.validate()
        guard !secretKey.isEmpty else { throw FederationError(.invalid, "The secret key of region \(region.name) is empty.") }
        let sealed = try secrets.seal(secretKey)
        let now = Timestamps.string(from: Date())
        try await database.transaction { db in
            if let taken = try await db.raw("SELECT id, name FROM federation_regions WHERE id = \(bind: region.id) OR name = \(bind: region.name)")
                .first()
            {
                let id = try taken.decode(column: "id", as: Int.self)
                let name = try taken.decode(column: "name", as: String.self)
                throw FederationError(
                    .conflict,
                    id == region.id
                        ? "Region id \(region.id) is already registered (as \(name)). Use `mclouds region update`."
                        : "Region name \(region.name) is already registered (id \(id)).")
            }
            try await db.raw(
                """
                INSERT INTO federation_regions (
                    id, name, endpoint, portable_ip, gslb, api_key, secret_sealed, contact, notes, networks, verify_tls, created, updated)
                VALUES (\(bind: region.id), \(bind: region.name), \(bind: region.endpoint), \(bind: region.portableIPEnabled ? 1 : 0),
                    \(bind: region.gslbEnabled ? 1 : 0), \(bind: region.apiKey), \(bind: sealed), \(bind: region.contact), \(bind: region.notes),
                    \(bind: region.networks.joined(separator: ",")), \(bind: region.verifyTLS ? 1 : 0), \(bind: now), \(bind: now))
                """
            ).run()
            try await db.raw("UPDATE federation_revision SET revision = revision + 1 WHERE id = 1").run()
        }
    }

    /// Grows with every add, update and remove (by any process on the database).
    public func revision() async throws -> Int64 {
        try await database.withDatabase { db in
            try await db.raw("SELECT revision FROM federation_revision WHERE id = 1").first()?.decode(column: "revision", as: Int64.self) ?? 0
        }
    }

    /// Every region, by id.
    public func list() async throws -> [FederationRegion] {
        try await database.withDatabase { db in
            try await db.raw("SELECT * FROM federation_regions ORDER BY id").all().map(Self.region)
        }
    }

    /// A region by id or name.
    /// - Throws: ``FederationError`` `notFound`.
    public func region(_ idOrName: String) async throws -> FederationRegion {
        let id = Int(idOrName) ?? -1
        let row = try await database.withDatabase { db in
            try await db.raw("SELECT * FROM federation_regions WHERE id = \(bind: id) OR name = \(bind: idOrName)").first()
        }
        guard let row else {
            throw FederationError(.notFound, "No region \"\(idOrName)\" in the registry. `mclouds region list` shows the registered ones.")
        }
        return try Self.region(row)
    }

    /// The federation admin account's keys on a region (the secret decrypted).
    public func credentials(_ id: Int) async throws -> (apiKey: String, secretKey: String) {
        let row = try await database.withDatabase { db in
            try await db.raw("SELECT api_key, secret_sealed FROM federation_regions WHERE id = \(bind: id)").first()
        }
        guard let row else { throw FederationError.notFound(id) }
        return (try row.decode(column: "api_key", as: String.self), try secrets.open(try row.decode(column: "secret_sealed", as: String.self)))
    }

    /// Every region's keys (secrets decrypted), by region id, in one read.
    public func allCredentials() async throws -> [Int: (apiKey: String, secretKey: String)] {
        let rows = try await database.withDatabase { db in
            try await db.raw("SELECT id, api_key, secret_sealed FROM federation_regions").all().map { row in
                (
                    try row.decode(column: "id", as: Int.self), try row.decode(column: "api_key", as: String.self),
                    try row.decode(column: "secret_sealed", as: String.self)
                )
            }
        }
        var keys: [Int: (apiKey: String, secretKey: String)] = [:]
        for (id, apiKey, sealed) in rows { keys[id] = (apiKey, try secrets.open(sealed)) }
        return keys
    }

    /// Seals every stored secret that the current key did not seal again under it (after ``SecretBox/rotate(keyFile:)``),
    /// in one transaction, each row only if it is unchanged since read.
    /// - Returns: how many were sealed again, and how many are still sealed under another key (0 when done).
    @discardableResult
    public func reseal() async throws -> (resealed: Int, remaining: Int) {
        try await database.transaction { db in
            let rows = try await db.raw("SELECT id, secret_sealed FROM federation_regions").all().map {
                (try $0.decode(column: "id", as: Int.self), try $0.decode(column: "secret_sealed", as: String.self))
            }
            var resealed = 0
            for (id, sealed) in rows where try !secrets.isCurrent(sealed) {
                let again = try secrets.seal(try secrets.open(sealed))
                try await db.raw(
                    "UPDATE federation_regions SET secret_sealed = \(bind: again) WHERE id = \(bind: id) AND secret_sealed = \(bind: sealed)"
                ).run()
                resealed += 1
            }
            let remaining = try await db.raw("SELECT secret_sealed FROM federation_regions").all().filter {
                try !secrets.isCurrent(try $0.decode(column: "secret_sealed", as: String.self))
            }.count
            return (resealed, remaining)
        }
    }

    /// Changes a region's fields and returns it as stored.
    /// - Throws: ``FederationError`` `notFound`, `invalid`, `conflict` (a name another region has).
    @discardableResult
    public func update(_ id: Int, _ changes: Changes) async throws -> FederationRegion {
        var region = try await region(String(id))
        guard region.id == id else { throw FederationError.notFound(id) }
        if let v = changes.name { region.name = v }
        if let v = changes.endpoint { region.endpoint = v }
        if let v = changes.portableIPEnabled { region.portableIPEnabled = v }
        if let v = changes.gslbEnabled { region.gslbEnabled = v }
        if let v = changes.apiKey { region.apiKey = v }
        if let v = changes.contact { region.contact = v.isEmpty ? nil : v }
        if let v = changes.notes { region.notes = v.isEmpty ? nil : v }
        if let v = changes.networks { region.networks = v }
        if let v = changes.verifyTLS { region.verifyTLS = v }
        try region.validate()
        if let secret = changes.secretKey, secret.isEmpty { throw FederationError(.invalid, "The secret key of region \(region.name) is empty.") }
        let sealed = try changes.secretKey.map { try secrets.seal($0) }
        let now = Timestamps.string(from: Date())
        let updated = region
        try await database.transaction { db in
            if try await db.raw("SELECT id FROM federation_regions WHERE name = \(bind: updated.name) AND id != \(bind: id)").first() != nil {
                throw FederationError(.conflict, "Region name \(updated.name) is already registered to another region.")
            }
            try await db.raw(
                """
                UPDATE federation_regions SET name = \(bind: updated.name), endpoint = \(bind: updated.endpoint),
                    portable_ip = \(bind: updated.portableIPEnabled ? 1 : 0), gslb = \(bind: updated.gslbEnabled ? 1 : 0),
                    api_key = \(bind: updated.apiKey), contact = \(bind: updated.contact), notes = \(bind: updated.notes),
                    networks = \(bind: updated.networks.joined(separator: ",")), verify_tls = \(bind: updated.verifyTLS ? 1 : 0), updated = \(bind: now)
                WHERE id = \(bind: id)
                """
            ).run()
            if let sealed {
                try await db.raw("UPDATE federation_regions SET secret_sealed = \(bind: sealed) WHERE id = \(bind: id)").run()
            }
            try await db.raw("UPDATE federation_revision SET revision = revision + 1 WHERE id = 1").run()
        }
        return updated
    }

    /// Removes a region from the registry (the installations drop it at the next `region sync`).
    /// - Throws: ``FederationError`` `notFound`.
    public func remove(_ id: Int) async throws {
        try await database.transaction { db in
            guard try await db.raw("SELECT id FROM federation_regions WHERE id = \(bind: id)").first() != nil else {
                throw FederationError.notFound(id)
            }
            try await db.raw("DELETE FROM federation_regions WHERE id = \(bind: id)").run()
            try await db.raw("UPDATE federation_revision SET revision = revision + 1 WHERE id = 1").run()
        }
    }

    static func region(_ row: any SQLRow) throws -> FederationRegion {
        FederationRegion(
            id: try row.decode(column: "id", as: Int.self), name: try row.decode(column: "name", as: String.self),
            endpoint: try row.decode(column: "endpoint", as: String.self),
            portableIPEnabled: try row.decode(column: "portable_ip", as: Int.self) != 0,
            gslbEnabled: try row.decode(column: "gslb", as: Int.self) != 0,
            apiKey: try row.decode(column: "api_key", as: String.self), contact: try row.decode(column: "contact", as: String?.self),
            notes: try row.decode(column: "notes", as: String?.self),
            networks: try row.decode(column: "networks", as: String.self).split(separator: ",").map(String.init),
            verifyTLS: try row.decode(column: "verify_tls", as: Int.self) != 0)
    }
}
