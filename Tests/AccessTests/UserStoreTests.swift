import Access
import Foundation
import SQLKit
import Storage
import TestSupport
import Testing

@Suite("Access: users, passwords, sessions, login throttling")
struct UserStoreTests {
    static var settings: UserStore.Settings {
        var settings = UserStore.Settings()
        settings.bcryptCost = 4  // the rules are what is tested here; the cost is bcrypt's
        return settings
    }

    @Test("growing delays after the free failures, then a lock that runs out; a long quiet forgets")
    func throttle() {
        let throttle = LoginThrottle.perAccount
        let t = Date(timeIntervalSince1970: 1_000_000)
        #expect((1...3).map { throttle.delay(afterFailures: $0) } == [0, 0, 0])
        #expect((4...9).map { throttle.delay(afterFailures: $0) } == [1, 2, 4, 8, 16, 32])
        #expect(throttle.delay(afterFailures: 40) == 300)
        #expect(throttle.verdict(failures: 3, lastFailure: t, lockedUntil: nil, now: t) == .allowed)
        #expect(throttle.verdict(failures: 6, lastFailure: t, lockedUntil: nil, now: t.addingTimeInterval(1)) == .wait(seconds: 3))
        #expect(throttle.verdict(failures: 6, lastFailure: t, lockedUntil: nil, now: t.addingTimeInterval(4)) == .allowed)
        // The 10th failure locks for 15 minutes; after the lock, counting starts again.
        let locked = throttle.failing(failures: 9, lastFailure: t, lockedUntil: nil, now: t)
        #expect(locked.failures == 10 && locked.lockedUntil == t.addingTimeInterval(900))
        #expect(
            throttle.verdict(failures: 10, lastFailure: t, lockedUntil: locked.lockedUntil, now: t.addingTimeInterval(899))
                == .locked(until: t.addingTimeInterval(900)))
        #expect(throttle.verdict(failures: 10, lastFailure: t, lockedUntil: locked.lockedUntil, now: t.addingTimeInterval(901)) == .allowed)
        #expect(throttle.failing(failures: 10, lastFailure: t, lockedUntil: locked.lockedUntil, now: t.addingTimeInterval(901)).failures == 1)
        #expect(throttle.failing(failures: 8, lastFailure: t, lockedUntil: nil, now: t.addingTimeInterval(3601)).failures == 1)
    }

    @Test("password rules: a minimum length, bcrypt's 72 bytes, not the user name, not one character repeated")
    func rules() {
        let rules = PasswordRules()
        #expect(rules.problem("short", username: "ada") == .weakPassword(.tooShort(12)))
        #expect(rules.problem(String(repeating: "abcd", count: 19), username: "ada") == .weakPassword(.tooLong(72)))
        #expect(rules.problem("xx-Ada-lovelace", username: "ada") == .weakPassword(.containsUsername))
        #expect(rules.problem("aaaaaaaaaaaaaaaaab", username: "ada") == .weakPassword(.tooSimple))
        #expect(rules.problem("correct horse battery", username: "ada") == nil)
    }

    @Test("users: bcrypt hashes only, sessions stored as hashes, CSRF per session, disable and reset end sessions", arguments: TestDatabase.available)
    func users(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let database = try await backend.open(in: directory, migrations: [])
            let users = try await UserStore.open(database: database, settings: Self.settings)
            let password = "correct horse battery"
            #expect(try await !users.hasAdmin())
            try await users.add(username: "root", role: .federationAdmin, scope: nil, password: "a long admin passphrase")
            #expect(try await users.hasAdmin())
            let ada = try await users.add(
                username: "ada", displayName: "Ada L.", email: "ada@example.org", role: .teacher, scope: "6", password: password)
            #expect(ada.principal == Principal(id: "user:ada", role: .teacher, scope: "6"))
            await #expect(throws: AccessError.userExists("ada")) {
                try await users.add(username: "ada", role: .student, scope: nil, password: password)
            }
            await #expect(throws: AccessError.badUsername("Ada")) {
                try await users.add(username: "Ada", role: .student, scope: nil, password: password)
            }
            await #expect(throws: AccessError.badUsername("../x")) {
                try await users.add(username: "../x", role: .student, scope: nil, password: password)
            }
            await #expect(throws: AccessError.noUserRole(.siteAgent)) {
                try await users.add(username: "agent", role: .siteAgent, scope: "S", password: password)
            }
            await #expect(throws: AccessError.badScope(role: .partnerAdmin, scope: nil)) {
                try await users.add(username: "pa", role: .partnerAdmin, scope: nil, password: password)
            }
            await #expect(throws: AccessError.weakPassword(.tooShort(12))) {
                try await users.add(username: "bob", role: .student, scope: nil, password: "123")
            }

            // The password is stored only as a bcrypt hash.
            let hashes = try await database.withDatabase { db in
                try await db.raw("SELECT password_bcrypt FROM users").all().map { try $0.decode(column: "password_bcrypt", as: String.self) }
            }
            #expect(hashes.count == 2 && hashes.allSatisfy { $0.hasPrefix("$2b$04$") && !$0.contains(password) })

            // Login → a session whose cookie is stored only as its SHA-256.
            let session = try await users.login(username: "ada", password: password, source: "127.0.0.1")
            #expect(session.secret.count == 64 && session.csrf.count == 64 && session.secret != session.csrf)
            let authenticated = try #require(try await users.authenticate(session: session.secret))
            #expect(authenticated.user.username == "ada" && authenticated.csrf == session.csrf)
            let stored = try await database.withDatabase { db in
                try await db.raw("SELECT secret_sha256 FROM user_sessions").all().map { try $0.decode(column: "secret_sha256", as: String.self) }
            }
            #expect(stored.count == 1 && stored[0] != session.secret)
            #expect(try await users.authenticate(session: String(repeating: "0", count: 64)) == nil)
            #expect(try await users.authenticate(session: "not hex") == nil)
            // Idle too long, or past the absolute lifetime: ended.
            #expect(try await users.authenticate(session: session.secret, now: Date().addingTimeInterval(31 * 60)) == nil)

            // Wrong password, unknown user: the same error.
            await #expect(throws: AccessError.badCredentials) {
                try await users.login(username: "ada", password: "wrong password!", source: "127.0.0.2")
            }
            await #expect(throws: AccessError.badCredentials) { try await users.login(username: "nobody", password: password, source: "127.0.0.2") }

            // Changing the password needs the current one, and ends every session.
            await #expect(throws: AccessError.badCredentials) { try await users.changePassword("ada", current: "nope", new: "another good one") }
            try await users.changePassword("ada", current: password, new: "another good one")
            #expect(try await users.authenticate(session: session.secret) == nil)
            await #expect(throws: AccessError.badCredentials) { try await users.login(username: "ada", password: password, source: "127.0.0.1") }

            // Disabling ends the sessions; a disabled user's right password says so, a wrong one does not.
            let second = try await users.login(username: "ada", password: "another good one", source: "127.0.0.1")
            try await users.setDisabled("ada", true)
            #expect(try await users.authenticate(session: second.secret) == nil)
            await #expect(throws: AccessError.disabled) { try await users.login(username: "ada", password: "another good one", source: "127.0.0.1") }
            try await users.setDisabled("ada", false)
            _ = try await users.login(username: "ada", password: "another good one", source: "127.0.0.1")
            await #expect(throws: AccessError.unknownUser("zed")) { try await users.setDisabled("zed", true) }
            #expect(try await users.list().map(\.username) == ["ada", "root"])
            #expect(try await users.list(scope: "6").map(\.username) == ["ada"])
        }
    }

    @Test(
        "failed logins: per account, delays then a lock that even the right password does not pass; a reset lifts it; per address too",
        arguments: TestDatabase.available)
    func throttling(backend: TestDatabase) async throws {
        try await withTemporaryDirectory { directory in
            let database = try await backend.open(in: directory, migrations: [])
            let users = try await UserStore.open(database: database, settings: Self.settings)
            let password = "correct horse battery"
            try await users.add(username: "ada", role: .student, scope: nil, password: password)
            var now = Date()
            for _ in 1...3 {
                await #expect(throws: AccessError.badCredentials) {
                    try await users.login(username: "ada", password: "wrong", source: "10.0.0.1", now: now)
                }
            }
            await #expect(throws: AccessError.badCredentials) {
                try await users.login(username: "ada", password: "wrong", source: "10.0.0.1", now: now)
            }
            // The 4th failure costs a second: an immediate try — even with the right password — is refused unchecked.
            await #expect(throws: AccessError.throttled(seconds: 1)) {
                try await users.login(username: "ada", password: password, source: "10.0.0.2", now: now)
            }
            for failure in 5...9 {
                now = now.addingTimeInterval(LoginThrottle.perAccount.delay(afterFailures: failure - 1))
                await #expect(throws: AccessError.badCredentials) {
                    try await users.login(username: "ada", password: "wrong", source: "10.0.0.1", now: now)
                }
            }
            now = now.addingTimeInterval(LoginThrottle.perAccount.delay(afterFailures: 9))
            await #expect(throws: AccessError.badCredentials) {
                try await users.login(username: "ada", password: "wrong", source: "10.0.0.1", now: now)
            }
            let until = now.addingTimeInterval(900)
            await #expect(throws: AccessError.locked(until: until)) {
                try await users.login(username: "ada", password: password, source: "10.0.0.3", now: now.addingTimeInterval(600))
            }
            // An admin's reset lifts the lock at once.
            try await users.setPassword("ada", "a brand new passphrase")
            _ = try await users.login(username: "ada", password: "a brand new passphrase", source: "10.0.0.3", now: now.addingTimeInterval(601))

            // One address trying many accounts is slowed down by its own count.
            let start = Date()
            for index in 0..<10 {
                await #expect(throws: AccessError.badCredentials) {
                    try await users.login(username: "guess\(index)", password: "x", source: "10.9.9.9", now: start)
                }
            }
            await #expect(throws: AccessError.badCredentials) {
                try await users.login(username: "guess10", password: "x", source: "10.9.9.9", now: start)
            }
            let failures = try await database.withDatabase { db in
                try await db.raw("SELECT subject, failures FROM login_failures WHERE subject = 'address:10.9.9.9'").first()?.decode(
                    column: "failures", as: Int.self)
            }
            #expect(failures == 11)
            await #expect(throws: AccessError.throttled(seconds: 1)) {
                try await users.login(username: "guess11", password: "x", source: "10.9.9.9", now: start)
            }
            // …while another address is not.
            _ = try await users.login(username: "ada", password: "a brand new passphrase", source: "10.8.8.8", now: start)
        }
    }
}
