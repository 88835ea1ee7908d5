import Access
import Core
import Foundation
import NIOHTTP1
import Server
import TestSupport
import Testing

/// The web login as a browser lives it: cookies, CSRF tokens on every form, throttling, password changes,
/// the admin pages, and the session cookie used against the JSON API.
@Suite("Web login and sessions")
struct WebLoginTests {
    static let password = "correct horse battery"

    func text(_ exchange: Exchange) -> String { String(decoding: exchange.body, as: UTF8.self) }

    /// Logs `username` in through the form; returns the browser holding the session.
    func login(_ base: String, _ username: String, _ password: String = password) async throws -> Browser {
        var browser = Browser(base)
        let form = try await browser.send(.GET, "/login")
        let csrf = try #require(Browser.csrf(in: form))
        let answer = try await browser.send(
            .POST, "/login", form: [("csrf", csrf), ("username", username), ("password", password), ("next", "/account")])
        #expect(answer.status == 303, "\(text(answer))")
        return browser
    }

    @Test("login form → Secure, HttpOnly, SameSite=Strict session cookie; CSRF needed on every form; logout ends the session")
    func loginAndForms() async throws {
        try await withServer { server, _, _ in
            let access = try #require(server.access)
            try await access.users.add(username: "ada", displayName: "Ada", role: .teacher, scope: nil, password: Self.password)
            var browser = Browser(server.baseURL)

            // The form sets its own CSRF cookie and carries the same value; pages load nothing from elsewhere.
            let form = try await browser.send(.GET, "/login")
            #expect(form.status == 200)
            let loginCookie = try #require(form.headers["Set-Cookie"].first { $0.hasPrefix("mclouds_login=") })
            #expect(loginCookie.contains("Secure") && loginCookie.contains("HttpOnly") && loginCookie.contains("SameSite=Strict"))
            let csrf = try #require(Browser.csrf(in: form))
            #expect(browser.cookies["mclouds_login"] == csrf)
            #expect(form.headers.first(name: "Content-Security-Policy")?.contains("default-src 'none'") == true)
            #expect(form.headers.first(name: "X-Frame-Options") == "DENY")

            // Without the token, or with another one: refused before the password is looked at.
            for token in [nil, String(repeating: "0", count: 64)] {
                let fields = [("username", "ada"), ("password", Self.password)] + (token.map { [("csrf", $0)] } ?? [])
                let forged = try await browser.send(.POST, "/login", form: fields)
                #expect(forged.status == 403 && text(forged).contains("reload the page"))
                #expect(browser.cookies["mclouds_session"] == nil)
            }
            // A cross-site form has no cookie to match: refused too.
            var stranger = Browser(server.baseURL)
            #expect(try await stranger.send(.POST, "/login", form: [("csrf", csrf), ("username", "ada"), ("password", Self.password)]).status == 403)

            let wrong = try await browser.send(.POST, "/login", form: [("csrf", csrf), ("username", "ada"), ("password", "not the password")])
            #expect(wrong.status == 401 && text(wrong).contains("wrong"))

            // Right: a session cookie, and on to `next` — a local path only.
            let right = try await browser.send(
                .POST, "/login", form: [("csrf", csrf), ("username", "ADA"), ("password", Self.password), ("next", "//evil.example/x")])
            #expect(right.status == 303 && right.headers.first(name: "Location") == "/account")
            let session = try #require(right.headers["Set-Cookie"].first { $0.hasPrefix("mclouds_session=") })
            #expect(session.contains("Secure") && session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Path=/"))
            let account = try await browser.send(.GET, "/account")
            #expect(account.status == 200 && text(account).contains("ada") && text(account).contains("teacher"))
            #expect(account.headers.first(name: "Cache-Control") == "no-store")
            let me = try await browser.send(.GET, "/api/v1/me")
            #expect(me.json?["id"]?.stringValue == "user:ada" && me.json?["role"]?.stringValue == "teacher")

            // A teacher is not an admin: the admin pages answer 403 (as a page).
            let admin = try await browser.send(.GET, "/admin/users")
            #expect(admin.status == 403 && admin.headers.first(name: "Content-Type")?.hasPrefix("text/html") == true)

            // Logged in, a form still needs the session's token.
            let sessionCSRF = try #require(Browser.csrf(in: account))
            #expect(sessionCSRF != csrf)
            let noToken = try await browser.send(
                .POST, "/account/password", form: [("current", Self.password), ("new", "a second passphrase"), ("repeat", "a second passphrase")])
            #expect(noToken.status == 403)
            #expect(try await browser.send(.POST, "/logout", form: []).status == 403)

            // Changing the password ends every session, this one too.
            var other = try await login(server.baseURL, "ada")
            let changed = try await browser.send(
                .POST, "/account/password",
                form: [("csrf", sessionCSRF), ("current", Self.password), ("new", "a second passphrase"), ("repeat", "a second passphrase")])
            #expect(changed.status == 303 && changed.headers.first(name: "Location") == "/login?changed=1")
            let gone = try await other.send(.GET, "/account")
            #expect(gone.status == 303 && gone.headers.first(name: "Location") == "/login?next=%2Faccount")
            #expect(try await other.send(.GET, "/api/v1/me").status == 401)

            // Logout with the token ends the session in the database.
            var again = try await login(server.baseURL, "ada", "a second passphrase")
            let page = try await again.send(.GET, "/account")
            let token = try #require(Browser.csrf(in: page))
            let cookie = try #require(again.cookies["mclouds_session"])
            let out = try await again.send(.POST, "/logout", form: [("csrf", token)])
            #expect(out.status == 303 && again.cookies["mclouds_session"] == nil)
            #expect(try await access.users.authenticate(session: cookie) == nil)

            // The audit log has the logins by user name, never a password.
            let logins = try await access.audit.entries(action: "login")
            #expect(logins.contains { $0.actor == "user:ada" && $0.result == "ok" })
            #expect(logins.contains { $0.actor == "user:ada" && $0.result.hasPrefix("refused") })
            let everything = try await access.audit.entries().map { "\($0)" }.joined()
            #expect(!everything.contains(Self.password) && !everything.contains("second passphrase") && !everything.contains(cookie))
        }
    }

    @Test("a session cookie on the JSON API: reads work, changes need X-CSRF-Token; admins manage users, partner admins only their region's")
    func sessionsOnTheAPI() async throws {
        try await withServer { server, _, _ in
            let access = try #require(server.access)
            try await access.users.add(username: "root", role: .federationAdmin, scope: nil, password: Self.password)
            try await access.users.add(username: "pa", role: .partnerAdmin, scope: "6", password: Self.password)
            var root = try await login(server.baseURL, "root")
            let page = try await root.send(.GET, "/admin/users")
            #expect(page.status == 200 && text(page).contains("pa"))
            let csrf = try #require(Browser.csrf(in: page))

            let body = #"{"username": "sam", "role": "student", "password": "a long student passphrase"}"#
            #expect(try await root.send(.POST, "/api/v1/users", json: body).status == 403)
            let made = try await root.send(.POST, "/api/v1/users", json: body, headers: [("X-CSRF-Token", csrf)])
            #expect(made.status == 201 && made.json?["username"]?.stringValue == "sam")
            #expect(try await root.send(.POST, "/api/v1/users", json: body, headers: [("X-CSRF-Token", csrf)]).status == 409)

            // The admin page's form adds a user, and disables one.
            let added = try await root.send(
                .POST, "/admin/users",
                form: [
                    ("csrf", csrf), ("username", "tess"), ("role", "teacher"), ("region", "7"), ("password", "a long teacher passphrase"),
                    ("repeat", "a long teacher passphrase"),
                ])
            #expect(added.status == 201 && text(added).contains("tess can log in now"))
            let weak = try await root.send(
                .POST, "/admin/users", form: [("csrf", csrf), ("username", "weak"), ("role", "student"), ("password", "short"), ("repeat", "short")])
            #expect(weak.status == 400 && text(weak).contains("too short"))
            #expect(try await root.send(.POST, "/admin/users/sam/disable", form: [("csrf", csrf)]).status == 200)
            #expect(try await access.users.user("sam").disabled != nil)

            // A partner admin: teachers and students of region 6 only.
            var partner = try await login(server.baseURL, "pa")
            let partnerPage = try await partner.send(.GET, "/admin/users")
            let partnerCSRF = try #require(Browser.csrf(in: partnerPage))
            #expect(!text(partnerPage).contains("tess"))
            let headers = [("X-CSRF-Token", partnerCSRF)]
            let teacher = try await partner.send(
                .POST, "/api/v1/users", json: #"{"username": "tom", "role": "teacher", "password": "another teacher passphrase"}"#, headers: headers)
            #expect(teacher.status == 201 && teacher.json?["scope"]?.stringValue == "6")
            for forbidden in [
                #"{"username": "boss", "role": "federation-admin", "password": "a long admin passphrase"}"#,
                #"{"username": "t7", "role": "teacher", "region": "7", "password": "a long teacher passphrase"}"#,
            ] {
                #expect(try await partner.send(.POST, "/api/v1/users", json: forbidden, headers: headers).status == 403)
            }
            #expect(try await partner.send(.POST, "/api/v1/users/tess/disable", headers: headers).status == 403)
            #expect(try await partner.send(.POST, "/api/v1/users/tom/disable", headers: headers).status == 204)
            let listed = try await partner.send(.GET, "/api/v1/users")
            #expect(listed.json?.arrayValue?.compactMap { $0["username"]?.stringValue } == ["pa", "tom"])
            #expect(try await partner.send(.GET, "/admin/tokens").status == 403)
        }
    }

    @Test("failed logins over HTTP: 429 with Retry-After once the free tries are spent, for the right password too")
    func throttled() async throws {
        // A first delay of a minute, so that a slow machine cannot outwait it between two requests.
        var settings = fastUsers
        settings.accountThrottle = LoginThrottle(freeFailures: 3, lockAfter: 10, lockDuration: 900, firstDelay: 60)
        try await withServer(users: settings) { server, _, _ in
            let access = try #require(server.access)
            try await access.users.add(username: "ada", role: .student, scope: nil, password: Self.password)
            var browser = Browser(server.baseURL)
            let csrf = try #require(Browser.csrf(in: try await browser.send(.GET, "/login")))
            for _ in 1...4 {
                let wrong = try await browser.send(.POST, "/login", form: [("csrf", csrf), ("username", "ada"), ("password", "guess")])
                #expect(wrong.status == 401)
            }
            let held = try await browser.send(.POST, "/login", form: [("csrf", csrf), ("username", "ada"), ("password", Self.password)])
            #expect(held.status == 429 && text(held).contains("wait"))
            let retry = try #require(held.headers.first(name: "Retry-After").flatMap(Int.init))
            #expect((50...60).contains(retry))
            #expect(browser.cookies["mclouds_session"] == nil)
            // An admin's password reset lifts the hold at once.
            try await access.users.setPassword("ada", "a brand new passphrase")
            let after = try await browser.send(.POST, "/login", form: [("csrf", csrf), ("username", "ada"), ("password", "a brand new passphrase")])
            #expect(after.status == 303)
        }
    }
}
