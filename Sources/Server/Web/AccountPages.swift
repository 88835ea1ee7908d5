import Access
import Core
import Foundation
import Hummingbird
import Logging

/// The web pages of identities: login and logout, one's account (password change), and for admins the users,
/// the tokens and the audit log. Every form posts back with the session's CSRF token (the login form with its
/// own cookie's), checked by ``GuardedRouter`` before a handler runs.
struct AccountPages: Sendable {
    let access: AccessServices
    let users: UserStore
    let logger: Logger
    var administration: UserAdministration { UserAdministration(users: users) }

    func register(on router: GuardedRouter) {
        let pages = self
        router.get("/login") { request, context in
            if context.session != nil { return WebPage.redirect(WebPage.localPath(request.uri.queryParameters.get("next"))) }
            let changed = request.uri.queryParameters.get("changed") == "1"
            return pages.loginPage(request, context, message: changed ? .ok("Your password is changed: log in with the new one.") : nil, username: "")
        }
        router.post("/login") { request, context in try await pages.login(request, context) }
        router.post("/logout") { _, context in
            if let session = context.session {
                try await pages.users.logout(session: session.secret)
                context.audit.say("session ended")
            }
            var response = WebPage.redirect("/login")
            response.setCookie(WebPage.cookie(WebPage.sessionCookie, "", maxAge: 0))
            return response
        }
        router.get("/account") { _, context in pages.accountPage(context, message: nil) }
        router.post("/account/password") { _, context in try await pages.changePassword(context) }
        router.get("/admin/users") { _, context in try await pages.usersPage(context, message: nil) }
        router.post("/admin/users") { _, context in try await pages.addUser(context) }
        for (action, disabled) in [("disable", true), ("enable", false)] {
            router.post("/admin/users/{username}/\(action)") { _, context in
                let username = try context.parameters.require("username")
                try await pages.administration.setDisabled(username, disabled, by: context)
                return try await pages.usersPage(context, message: .ok("\(username) is \(disabled ? "disabled" : "enabled") now."))
            }
        }
        router.get("/admin/tokens") { _, context in try await pages.tokensPage(context, message: nil) }
        router.post("/admin/tokens/{id}/revoke") { _, context in
            let id = try context.parameters.require("id")
            try await pages.access.tokens.revoke(id)
            context.audit.say("revoked")
            return try await pages.tokensPage(context, message: .ok("Token \(id) is revoked."))
        }
        router.get("/admin/audit") { _, context in try await pages.auditPage(context) }
    }

    // MARK: Login

    struct Message {
        var text: String
        var kind: String
        static func ok(_ text: String) -> Message { Message(text: text, kind: "ok") }
        static func error(_ text: String) -> Message { Message(text: text, kind: "error") }
    }

    func loginPage(
        _ request: Request, _ context: ServerContext, message: Message?, username: String, status: HTTPResponse.Status = .ok, retryAfter: Int? = nil
    ) -> Response {
        struct View {
            var message: Message?
            var username: String
            var next: String
            var csrf: String
        }
        let existing = request.cookies[WebPage.loginCookie]?.value
        let csrf = existing.flatMap { $0.count == 64 && $0.allSatisfy(\.isHexDigit) ? $0 : nil } ?? SystemRandomNumberGenerator.hex(32)
        let next = WebPage.localPath(context.form["next"] ?? request.uri.queryParameters.get("next"))
        var response = WebPage.render(
            Self.loginTemplate, View(message: message, username: username, next: next, csrf: csrf), title: "Log in", context: context, status: status)
        response.setCookie(WebPage.cookie(WebPage.loginCookie, csrf, maxAge: 3600, path: "/login"))
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }

    func login(_ request: Request, _ context: ServerContext) async throws -> Response {
        let username = (context.form["username"] ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        let password = context.form["password"] ?? ""
        do {
            let session = try await users.login(username: username, password: password, source: context.source)
            if let old = context.session { try await users.logout(session: old.secret) }
            await audit(context, actor: "user:\(username)", role: session.user.role.rawValue, result: "ok")
            var response = WebPage.redirect(WebPage.localPath(context.form["next"]))
            let lifetime = Int(users.settings.absoluteTimeout)
            response.setCookie(WebPage.cookie(WebPage.sessionCookie, session.secret, maxAge: lifetime))
            response.setCookie(WebPage.cookie(WebPage.loginCookie, "", maxAge: 0, path: "/login"))
            return response
        } catch let error as AccessError {
            await audit(context, actor: "user:\(username.prefix(64))", role: "-", result: "refused: \(error.category)")
            let status: HTTPResponse.Status =
                error.category == .throttled ? .tooManyRequests : error.category == .forbidden ? .forbidden : .unauthorized
            return loginPage(
                request, context, message: .error(error.description), username: String(username.prefix(64)), status: status,
                retryAfter: error.retryAfter)
        }
    }

    private func audit(_ context: ServerContext, actor: String, role: String, result: String) async {
        do {
            try await access.audit.append(actor: actor, role: role, source: context.source, action: "login", target: "", result: result)
        } catch {
            logger.error("the audit log could not be written", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Account

    func accountPage(_ context: ServerContext, message: Message?, status: HTTPResponse.Status = .ok) -> Response {
        struct View {
            var message: Message?
            var user: UserStore.User?
            var principal: Principal?
            var minimum: Int
            var csrf: String
        }
        let view = View(
            message: message, user: context.session?.user, principal: context.principal, minimum: users.settings.rules.minimumLength,
            csrf: context.session?.csrf ?? "")
        return WebPage.render(Self.accountTemplate, view, title: "Your account", context: context, status: status)
    }

    func changePassword(_ context: ServerContext) async throws -> Response {
        guard let session = context.session else {
            return accountPage(context, message: .error("Only a signed-in user has a password to change."), status: .badRequest)
        }
        let new = context.form["new"] ?? ""
        guard new == context.form["repeat"] else {
            return accountPage(context, message: .error("The two new passwords differ: type the same one twice."), status: .badRequest)
        }
        do {
            try await users.changePassword(session.user.username, current: context.form["current"] ?? "", new: new)
            context.audit.say("password changed, sessions ended")
        } catch let error as AccessError {
            let text = error == .badCredentials ? "The current password is wrong." : error.description
            return accountPage(context, message: .error(text), status: .badRequest)
        }
        // Every session of the user has ended (a thief's too): log in again with the new password.
        var response = WebPage.redirect("/login?changed=1")
        response.setCookie(WebPage.cookie(WebPage.sessionCookie, "", maxAge: 0))
        return response
    }

    // MARK: Admin

    func usersPage(_ context: ServerContext, message: Message?, status: HTTPResponse.Status = .ok) async throws -> Response {
        struct Row {
            var user: UserStore.User
            var enabled: Bool
            var region: String
            /// The signed-in admin's own row (no button to lock oneself out).
            var isSelf: Bool
        }
        struct View {
            var message: Message?
            var rows: [Row]
            var roles: [String]
            var fixedRegion: String?
            var csrf: String
            var minimum: Int
        }
        let principal = try context.require()
        let list = try await administration.list(by: principal)
        let roles: [Role] = principal.role == .federationAdmin ? [.teacher, .student, .partnerAdmin, .federationAdmin] : [.teacher, .student]
        let view = View(
            message: message,
            rows: list.map {
                Row(user: $0, enabled: $0.disabled == nil, region: $0.scope ?? "—", isSelf: $0.principal.id == principal.id)
            }, roles: roles.map(\.rawValue),
            fixedRegion: principal.role == .federationAdmin ? nil : principal.scope, csrf: context.session?.csrf ?? "",
            minimum: users.settings.rules.minimumLength)
        return WebPage.render(Self.usersTemplate, view, title: "Users", context: context, status: status)
    }

    func addUser(_ context: ServerContext) async throws -> Response {
        let form = context.form
        guard let role = Role(rawValue: form["role"] ?? "") else {
            return try await usersPage(context, message: .error("Choose a role."), status: .badRequest)
        }
        guard form["password"] == form["repeat"] else {
            return try await usersPage(context, message: .error("The two passwords differ: type the same one twice."), status: .badRequest)
        }
        let new = NewUser(
            username: (form["username"] ?? "").trimmingCharacters(in: .whitespaces), displayName: form["displayName"], email: form["email"],
            role: role,
            region: form["region"], password: form["password"] ?? "")
        do {
            let user = try await administration.add(new, by: context)
            return try await usersPage(context, message: .ok("\(user.username) can log in now."), status: .created)
        } catch let error as AccessError {
            return try await usersPage(context, message: .error(error.description), status: .badRequest)
        }
    }

    func tokensPage(_ context: ServerContext, message: Message?) async throws -> Response {
        struct Row {
            var token: TokenStore.Token
            var live: Bool
        }
        struct View {
            var message: Message?
            var rows: [Row]
            var csrf: String
        }
        let now = Timestamps.string(from: Date())
        let rows = try await access.tokens.list().map { Row(token: $0, live: $0.revoked == nil && $0.expires > now) }
        return WebPage.render(
            Self.tokensTemplate, View(message: message, rows: rows, csrf: context.session?.csrf ?? ""), title: "Tokens", context: context)
    }

    func auditPage(_ context: ServerContext) async throws -> Response {
        struct View {
            var entries: [AuditLog.Entry]
            var chain: String
            var intact: Bool
        }
        let entries = try await access.audit.entries(limit: 200).reversed().map { $0 }
        let chain: String
        let intact: Bool
        do {
            chain = "hash chain intact over \(try await access.audit.verify()) entries"
            intact = true
        } catch let error as AccessError {
            chain = error.description
            intact = false
        }
        return WebPage.render(Self.auditTemplate, View(entries: entries, chain: chain, intact: intact), title: "Audit log", context: context)
    }

    // MARK: Templates

    static let loginTemplate = WebPage.compile(
        """
        <section class="panel narrow">
        <h2>Log in to mClouds</h2>
        {{#message}}<p class="message {{kind}}">{{text}}</p>{{/message}}
        <form method="post" action="/login">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="next" value="{{next}}">
        <label for="username">User name</label>
        <input id="username" name="username" autocomplete="username" autocapitalize="none" required value="{{username}}">
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required>
        <button type="submit">Log in</button>
        </form>
        <p class="sub">Accounts are made by your federation's or university's administrator. Repeated failures slow down further tries and then lock the account for a while.</p>
        </section>
        """, "login")

    static let accountTemplate = WebPage.compile(
        """
        <section class="panel">
        <h2>Your account</h2>
        {{#message}}<p class="message {{kind}}">{{text}}</p>{{/message}}
        {{#user}}
        <dl>
        <dt>User name</dt><dd>{{username}}</dd>
        <dt>Name</dt><dd>{{displayName}}</dd>
        <dt>E-mail</dt><dd>{{email}}</dd>
        <dt>Role</dt><dd>{{role}}</dd>
        {{#scope}}<dt>Region</dt><dd>{{.}}</dd>{{/scope}}
        <dt>Password set</dt><dd>{{passwordChanged}}</dd>
        </dl>
        {{/user}}
        {{^user}}{{#principal}}<dl><dt>Token</dt><dd>{{id}}</dd><dt>Role</dt><dd>{{role}}</dd></dl>{{/principal}}{{/user}}
        </section>
        {{#user}}
        <section class="panel narrow">
        <h2>Change your password</h2>
        <form method="post" action="/account/password">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="current">Current password</label>
        <input id="current" name="current" type="password" autocomplete="current-password" required>
        <label for="new">New password (at least {{minimum}} characters)</label>
        <input id="new" name="new" type="password" autocomplete="new-password" minlength="{{minimum}}" required>
        <label for="repeat">New password again</label>
        <input id="repeat" name="repeat" type="password" autocomplete="new-password" minlength="{{minimum}}" required>
        <button type="submit">Change password</button>
        </form>
        <p class="sub">Changing it ends all your sessions, on every device.</p>
        </section>
        {{/user}}
        """, "account")

    static let usersTemplate = WebPage.compile(
        """
        <section class="panel">
        <h2>Users</h2>
        {{#message}}<p class="message {{kind}}">{{text}}</p>{{/message}}
        <div class="table"><table>
        <tr><th>User</th><th class="optional">Name</th><th class="optional">E-mail</th><th>Role</th><th>Region</th><th class="optional">Last login</th><th>State</th></tr>
        {{#rows}}
        <tr><td>{{user.username}}</td><td class="optional">{{user.displayName}}</td><td class="optional wrap">{{user.email}}</td><td>{{user.role}}</td><td>{{region}}</td>
        <td class="optional">{{user.lastLogin}}{{^user.lastLogin}}never{{/user.lastLogin}}</td>
        <td>{{#isSelf}}<span class="sub">you</span>{{/isSelf}}{{^isSelf}}{{#enabled}}<form method="post" action="/admin/users/{{user.username}}/disable"><input type="hidden" name="csrf" value="{{csrf}}"><button class="small danger" type="submit">Disable</button></form>{{/enabled}}
        {{^enabled}}<form method="post" action="/admin/users/{{user.username}}/enable"><input type="hidden" name="csrf" value="{{csrf}}"><button class="small" type="submit">Enable</button></form>{{/enabled}}{{/isSelf}}</td></tr>
        {{/rows}}
        </table></div>
        {{^rows}}<p class="sub">No users yet.</p>{{/rows}}
        </section>
        <section class="panel">
        <h2>Add a user</h2>
        <form method="post" action="/admin/users">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <div class="fields">
        <div><label for="username">User name</label><input id="username" name="username" autocapitalize="none" pattern="[a-z0-9][a-z0-9._-]*" maxlength="64" required></div>
        <div><label for="displayName">Name</label><input id="displayName" name="displayName" maxlength="128"></div>
        <div><label for="email">E-mail</label><input id="email" name="email" type="email" maxlength="254"></div>
        <div><label for="role">Role</label><select id="role" name="role">{{#roles}}<option>{{.}}</option>{{/roles}}</select></div>
        <div><label for="region">Region id</label>{{#fixedRegion}}<input id="region" name="region" value="{{.}}" readonly>{{/fixedRegion}}{{^fixedRegion}}<input id="region" name="region" inputmode="numeric">{{/fixedRegion}}</div>
        <div><label for="password">Password (at least {{minimum}})</label><input id="password" name="password" type="password" autocomplete="new-password" minlength="{{minimum}}" required></div>
        <div><label for="repeat">Password again</label><input id="repeat" name="repeat" type="password" autocomplete="new-password" minlength="{{minimum}}" required></div>
        </div>
        <button type="submit">Add user</button>
        </form>
        <p class="sub">Give the password to the person by a separate channel; they change it under “Your account”.</p>
        </section>
        """, "users")

    static let tokensTemplate = WebPage.compile(
        """
        <section class="panel">
        <h2>API tokens</h2>
        {{#message}}<p class="message {{kind}}">{{text}}</p>{{/message}}
        <div class="table"><table>
        <tr><th>Id</th><th>Name</th><th>Role</th><th class="optional">Scope</th><th class="optional">Expires</th><th class="optional">Last used</th><th>State</th></tr>
        {{#rows}}
        <tr><td>{{token.id}}</td><td class="wrap">{{token.name}}</td><td>{{token.role}}</td><td class="optional">{{token.scope}}</td><td class="optional">{{token.expires}}</td>
        <td class="optional">{{token.lastUsed}}{{^token.lastUsed}}never{{/token.lastUsed}}</td>
        <td>{{#live}}<form method="post" action="/admin/tokens/{{token.id}}/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><button class="small danger" type="submit">Revoke</button></form>{{/live}}
        {{^live}}<span class="badge">{{#token.revoked}}revoked{{/token.revoked}}{{^token.revoked}}expired{{/token.revoked}}</span>{{/live}}</td></tr>
        {{/rows}}
        </table></div>
        {{^rows}}<p class="sub">No tokens yet.</p>{{/rows}}
        <p class="sub">New tokens are made with <code>mclouds token create</code>; their secret is shown once.</p>
        </section>
        """, "tokens")

    static let auditTemplate = WebPage.compile(
        """
        <section class="panel">
        <h2>Audit log</h2>
        <p><span class="badge {{#intact}}ok{{/intact}}{{^intact}}crit{{/intact}}">{{#intact}}verified{{/intact}}{{^intact}}broken{{/intact}}</span> {{chain}}</p>
        <div class="table"><table>
        <tr><th>#</th><th>Time</th><th>Who</th><th class="optional">Role</th><th class="optional">From</th><th>Action</th><th class="optional">Target</th><th>Result</th><th class="optional">What changed</th></tr>
        {{#entries}}
        <tr><td>{{sequence}}</td><td>{{time}}</td><td class="wrap">{{actor}}</td><td class="optional">{{role}}</td><td class="optional">{{source}}</td><td class="wrap">{{action}}</td><td class="optional wrap">{{target}}</td><td>{{result}}</td><td class="optional wrap">{{summary}}</td></tr>
        {{/entries}}
        </table></div>
        <p class="sub">The latest 200 entries; <code>mclouds audit show</code> and <code>GET /api/v1/audit</code> read further back.</p>
        </section>
        """, "audit")
}

extension SystemRandomNumberGenerator {
    /// `count` random bytes from the system's cryptographic generator, as hex.
    static func hex(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString
    }
}
