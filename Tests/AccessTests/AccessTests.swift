import Access
import Core
import Foundation
import SQLKit
import Storage
import TestSupport
import Testing

@Suite("Access: policies, tokens, the audit log")
struct AccessTests {
    @Test("a policy admits by role and scope: anonymous only where public, an agent only for its own site, a partner admin only its region")
    func policyDecisions() {
        let agent = Principal(id: "t1", role: .siteAgent, scope: "MECA-TUS")
        let partner = Principal(id: "t2", role: .partnerAdmin, scope: "6")
        let student = Principal(id: "t3", role: .student)
        #expect(Policy.public.decide(nil, parameters: [:]) == .allow)
        #expect(Policy.federationAdmin.decide(nil, parameters: [:]) == .unauthenticated)
        #expect(Policy.federationAdmin.decide(.bootstrap, parameters: [:]) == .allow)
        #expect(Policy.federationAdmin.decide(partner, parameters: [:]) == .forbidden)
        let report = Policy.siteAgent(parameter: "site")
        #expect(report.decide(agent, parameters: ["site": "MECA-TUS"]) == .allow)
        #expect(report.decide(agent, parameters: ["site": "MECA-BME"]) == .forbidden)
        #expect(report.decide(student, parameters: ["site": "MECA-TUS"]) == .forbidden)
        #expect(report.decide(.bootstrap, parameters: ["site": "anything"]) == .allow)
        let region = Policy(anonymous: false, roles: [.federationAdmin, .partnerAdmin], scopeParameter: "id")
        #expect(region.decide(partner, parameters: ["id": "6"]) == .allow)
        #expect(region.decide(partner, parameters: ["id": "1"]) == .forbidden)
    }

    @Test("tokens: shown once, stored as a hash, scoped by role; expired and revoked ones are refused", arguments: TestDatabase.available)
    func tokens(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let database = try await backend.open(in: directory, migrations: [])
            let tokens = try await TokenStore.open(database: database)
            let now = Date()
            let (token, secret) = try await tokens.create(
                name: "agent MECA-TUS", role: .siteAgent, scope: "MECA-TUS", expires: now.addingTimeInterval(3600), now: now)
            #expect(secret.hasPrefix(TokenStore.prefix) && secret.count == TokenStore.prefix.count + 64)
            #expect(try await tokens.authenticate(secret, now: now) == Principal(id: token.id, role: .siteAgent, scope: "MECA-TUS"))
            #expect(try await tokens.authenticate(secret + "0", now: now) == nil)
            #expect(try await tokens.authenticate(String(secret.dropLast()) + "x", now: now) == nil)
            // Expired: refused; the secret is nowhere in the database.
            #expect(try await tokens.authenticate(secret, now: now.addingTimeInterval(3601)) == nil)
            let stored = try await database.withDatabase { db in try await db.raw("SELECT * FROM access_tokens").all().count }
            #expect(stored == 1)
            let raw = try await database.withDatabase { db in
                try await db.raw("SELECT secret_sha256, name, id FROM access_tokens").all().map {
                    try [$0.decode(column: "secret_sha256", as: String.self), $0.decode(column: "name", as: String.self)].joined()
                }
            }
            #expect(!raw.joined().contains(secret.dropFirst(TokenStore.prefix.count)))
            // Revoked: refused at once, still listed.
            try await tokens.revoke(token.id, now: now)
            #expect(try await tokens.authenticate(secret, now: now) == nil)
            #expect(try await tokens.list().first?.revoked != nil)
            await #expect(throws: AccessError.unknownToken("nope")) { try await tokens.revoke("nope") }
            // Scope must fit the role; expiry within a year.
            await #expect(throws: AccessError.badScope(role: .siteAgent, scope: nil)) {
                try await tokens.create(name: "x", role: .siteAgent, scope: nil, expires: now.addingTimeInterval(60))
            }
            await #expect(throws: AccessError.badScope(role: .federationAdmin, scope: "6")) {
                try await tokens.create(name: "x", role: .federationAdmin, scope: "6", expires: now.addingTimeInterval(60))
            }
            await #expect(throws: AccessError.badExpiry) {
                try await tokens.create(name: "x", role: .federationAdmin, scope: nil, expires: now.addingTimeInterval(400 * 86_400))
            }
        }
    }

    @Test("the audit log is hash-chained: editing, deleting or inserting a row makes verify fail at that row", arguments: TestDatabase.available)
    func auditChain(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let database = try await backend.open(in: directory, migrations: [])
            let audit = try await AuditLog.open(database: database)
            for index in 1...5 {
                try await audit.append(
                    actor: "t\(index)", role: "federation-admin", source: "127.0.0.1", action: "POST /api/v1/regions", target: "id=\(index)",
                    result: "201")
            }
            #expect(try await audit.verify() == 5)
            #expect(try await audit.entries(actor: "t3").map(\.target) == ["id=3"])

            try await database.transaction { db in try await db.raw("UPDATE audit_log SET result = '200' WHERE seq = 3").run() }
            await #expect(throws: AccessError.auditBroken(sequence: 3)) { try await audit.verify() }
            try await database.transaction { db in try await db.raw("UPDATE audit_log SET result = '201' WHERE seq = 3").run() }
            #expect(try await audit.verify() == 5)

            try await database.transaction { db in try await db.raw("DELETE FROM audit_log WHERE seq = 2").run() }
            await #expect(throws: AccessError.auditBroken(sequence: 2)) { try await audit.verify() }
        }
    }

    @Test("summaries are covered by the chain; entries written before summaries existed still verify", arguments: TestDatabase.available)
    func auditSummaries(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let database = try await backend.open(in: directory, migrations: [])
            let audit = try await AuditLog.open(database: database)
            try await audit.append(actor: "t1", role: "federation-admin", source: "127.0.0.1", action: "login", target: "", result: "ok")
            try await audit.append(
                actor: "t1", role: "federation-admin", source: "127.0.0.1", action: "PATCH /api/v1/regions/{id}", target: "id=6", result: "200",
                summary: "contact: - → noc@tus.example")
            #expect(try await audit.entries().map(\.summary) == ["", "contact: - → noc@tus.example"])
            #expect(try await audit.verify() == 2)
            // An entry's summary edited, or one added to an entry that had none, breaks the chain there.
            try await database.transaction { db in try await db.raw("UPDATE audit_log SET summary = 'contact: - → x' WHERE seq = 2").run() }
            await #expect(throws: AccessError.auditBroken(sequence: 2)) { try await audit.verify() }
            try await database.transaction { db in
                try await db.raw("UPDATE audit_log SET summary = 'contact: - → noc@tus.example' WHERE seq = 2").run()
            }
            try await database.transaction { db in try await db.raw("UPDATE audit_log SET summary = 'nothing' WHERE seq = 1").run() }
            await #expect(throws: AccessError.auditBroken(sequence: 1)) { try await audit.verify() }
        }
    }
}

@Suite("Address policy")
struct AddressPolicyTests {
    @Test("CIDR matching for IPv4 and IPv6 (mapped IPv4 too); malformed networks are refused")
    func cidr() throws {
        let v4 = try #require(CIDR("10.1.0.0/16"))
        #expect(v4.contains("10.1.255.7") && !v4.contains("10.2.0.1") && !v4.contains("::1"))
        #expect(v4.contains("::ffff:10.1.2.3"))
        let v6 = try #require(CIDR("2001:db8::/32"))
        #expect(v6.contains("2001:db8:1::5") && !v6.contains("2001:db9::1") && !v6.contains("10.1.0.1"))
        #expect(try #require(CIDR("127.0.0.2")).contains("127.0.0.2") && !(try #require(CIDR("127.0.0.2"))).contains("127.0.0.3"))
        #expect(try #require(CIDR("::/0")).contains("fe80::1") && (try #require(CIDR("0.0.0.0/0"))).contains("8.8.8.8"))
        for bad in ["10.1.0.0/33", "300.1.1.1", "10.1/8", "2001:db8:::1", "1:2:3:4:5:6:7:8:9", "abc", "10.0.0.0/-1", ""] {
            #expect(CIDR(bad) == nil, "\(bad)")
        }
    }

    @Test("X-Forwarded-For is believed from trusted proxies only, and names the last hop that is not a proxy")
    func forwarded() throws {
        let policy = AddressPolicy(trustedProxies: [try #require(CIDR("10.0.0.5"))])
        #expect(policy.client(peer: "192.0.2.9", forwardedFor: "10.1.0.1") == "192.0.2.9")  // forged: ignored
        #expect(policy.client(peer: "10.0.0.5", forwardedFor: "10.1.0.1") == "10.1.0.1")
        #expect(policy.client(peer: "10.0.0.5", forwardedFor: "6.6.6.6, 10.1.0.1, 10.0.0.5") == "10.1.0.1")
        #expect(policy.client(peer: "10.0.0.5", forwardedFor: "junk") == "10.0.0.5")
        // RFC 7239 Forwarded: quoted, bracketed v6 with a port, v4 with a port; obfuscated names skipped; forged from elsewhere.
        #expect(policy.client(peer: "10.0.0.5", forwardedFor: nil, forwarded: #"for=192.0.2.60;proto=https;by=10.0.0.5"#) == "192.0.2.60")
        #expect(policy.client(peer: "10.0.0.5", forwardedFor: nil, forwarded: #"for="[2001:db8:cafe::17]:4711""#) == "2001:db8:cafe::17")
        #expect(
            policy.client(peer: "10.0.0.5", forwardedFor: nil, forwarded: "for=6.6.6.6:80, for=198.51.100.7:1234, For=10.0.0.5") == "198.51.100.7")
        #expect(policy.client(peer: "10.0.0.5", forwardedFor: "192.0.2.1", forwarded: "for=_hidden, for=unknown") == "10.0.0.5")
        #expect(policy.client(peer: "192.0.2.9", forwardedFor: nil, forwarded: "for=10.1.0.1") == "192.0.2.9")
    }
}
