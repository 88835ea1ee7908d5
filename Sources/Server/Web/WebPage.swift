import Access
import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// What every server-rendered page shares: the layout (header, navigation for the signed-in user, a log-out
/// form carrying the CSRF token), the security headers, the cookies of a web session, and form bodies.
enum WebPage {
    /// The session cookie: `Secure`, `HttpOnly`, `SameSite=Strict`, for the whole site.
    static let sessionCookie = "mclouds_session"
    /// The login form's own CSRF cookie (double submit: the form carries the same random value).
    static let loginCookie = "mclouds_login"

    struct Navigation {
        var signedIn: Bool
        var username: String
        var role: String
        var admin: Bool
        var federationAdmin: Bool
        /// Teachers and admins: the classes pages.
        var classes: Bool
        var csrf: String
    }

    struct Layout {
        var title: String
        var nav: Navigation
        var body: String
    }

    static func compile(_ text: String, _ name: String) -> MustacheTemplate {
        do {
            return try MustacheTemplate(string: text)
        } catch {
            fatalError("The \(name) template does not parse: \(error)")
        }
    }

    static let layout = compile(layoutText, "layout")

    static func navigation(_ context: ServerContext) -> Navigation {
        let session = context.session
        let role = session?.user.role
        return Navigation(
            signedIn: session != nil, username: session?.user.username ?? "", role: role?.rawValue ?? "",
            admin: role == .federationAdmin || role == .partnerAdmin, federationAdmin: role == .federationAdmin,
            classes: role == .federationAdmin || role == .partnerAdmin || role == .teacher, csrf: session?.csrf ?? "")
    }

    /// A page: `body` rendered from `template` and `view`, inside the layout.
    static func render(
        _ template: MustacheTemplate, _ view: Any, title: String, context: ServerContext, status: HTTPResponse.Status = .ok
    ) -> Response {
        let body = template.render(view)
        return html(layout.render(Layout(title: title, nav: navigation(context), body: body)), status: status)
    }

    /// An HTML answer with the headers every page has: nothing loaded from elsewhere (CSP), no framing, no
    /// referrer, not cached (pages show who is signed in).
    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8", .contentLength: String(text.utf8.count), .cacheControl: "no-store",
            .contentSecurityPolicy:
                "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ]
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `303 See Other` to a path of this site.
    static func redirect(_ path: String) -> Response {
        Response(status: .seeOther, headers: [.location: path, .contentLength: "0", .cacheControl: "no-store"])
    }

    /// A local path to go to after login (anything else — another host, `//host`, a scheme — becomes `/account`).
    static func localPath(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), next.count <= 512,
            next.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "\"" && $0 != "<" && $0 != ">" })
        else { return "/account" }
        return next
    }

    static func cookie(_ name: String, _ value: String, maxAge: Int, path: String = "/") -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: true, httpOnly: true, sameSite: .strict)
    }

    /// An `application/x-www-form-urlencoded` body as fields (the first of a repeated name counts).
    static func form(_ request: Request, limit: Int = 16 * 1024) async throws -> [String: String] {
        var request = request
        let body = try await request.collectBody(upTo: limit)
        return parseForm(String(buffer: body))
    }

    static func parseForm(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String? { part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = decode(parts[0]), let value = decode(parts.count == 2 ? parts[1] : "") else { continue }
            if fields[name] == nil { fields[name] = value }
        }
        return fields
    }

    /// The page for a refused or failed page request.
    static func error(_ status: Int, _ message: String, context: ServerContext) -> Response {
        struct View {
            var status: Int
            var message: String
            var signedIn: Bool
        }
        return render(
            errorTemplate, View(status: status, message: message, signedIn: context.session != nil), title: "Error \(status)", context: context,
            status: .init(code: status))
    }

    static let errorTemplate = compile(
        """
        <section class="panel">
        <h2>That did not work ({{status}})</h2>
        <p>{{message}}</p>
        <p><a href="/">Dashboard</a>{{^signedIn}} · <a href="/login">Log in</a>{{/signedIn}}{{#signedIn}} · <a href="/account">Your account</a>{{/signedIn}}</p>
        </section>
        """, "error")

    static let styles = """
        :root { --ok: #2f855a; --warn: #d69e2e; --crit: #c53030; --muted: #5a6472; --line: #d9dee5; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a202c; background: #f4f6f9; }
        header { background: #1f2a44; color: #fff; padding: 12px 20px; display: flex; flex-wrap: wrap; gap: 8px 20px; align-items: center; }
        header h1 { font-size: 19px; margin: 0 12px 0 0; }
        header a { color: #e2e8f0; text-decoration: none; }
        header a:hover { text-decoration: underline; }
        header .who { margin-left: auto; color: #cbd5e0; font-size: 13px; display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
        header form { margin: 0; }
        main { padding: 16px 20px 32px; max-width: 1100px; margin: 0 auto; }
        h2 { font-size: 17px; margin: 0 0 12px; color: #2d3748; }
        .panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px; margin: 0 0 16px; }
        .narrow { max-width: 420px; margin: 24px auto; }
        label { display: block; font-size: 13px; color: var(--muted); margin: 10px 0 3px; }
        input, select { width: 100%; font: inherit; padding: 7px 9px; border: 1px solid #b8c2cc; border-radius: 6px; background: #fff; }
        button { font: inherit; padding: 7px 14px; border: 0; border-radius: 6px; background: #2b6cb0; color: #fff; cursor: pointer; margin-top: 12px; }
        button.small { padding: 3px 10px; margin: 0; font-size: 13px; }
        button.quiet { background: #4a5568; }
        button.danger { background: var(--crit); }
        a.button { display: inline-block; padding: 7px 14px; border-radius: 6px; background: #2b6cb0; color: #fff; text-decoration: none; margin-top: 12px; }
        .actions { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
        .actions form { margin: 0; }
        article.seat { border-top: 1px solid var(--line); padding: 10px 0; }
        article.seat h3 { margin: 0 0 4px; font-size: 16px; }
        code.wrap { overflow-wrap: anywhere; }
        .message { padding: 8px 12px; border-radius: 6px; margin: 0 0 12px; }
        .message.error { background: #fed7d7; color: #742a2a; }
        .message.ok { background: #c6f6d5; color: #22543d; }
        .table { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; font-size: 14px; }
        th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { color: var(--muted); font-weight: 600; font-size: 13px; }
        td.wrap { overflow-wrap: break-word; word-break: normal; }
        .badge { color: #fff; border-radius: 10px; padding: 1px 8px; font-size: 12px; font-weight: 600; white-space: nowrap; background: #718096; }
        .badge.ok { background: var(--ok); } .badge.crit { background: var(--crit); }
        .sub { color: var(--muted); font-size: 13px; }
        .fields { display: grid; gap: 0 14px; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); }
        dl { display: grid; grid-template-columns: auto 1fr; gap: 4px 12px; margin: 0; }
        dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
        @media (max-width: 600px) { main { padding: 12px; } header .who { margin-left: 0; } th.optional, td.optional { display: none; } }
        """

    static let layoutText = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · mClouds</title>
        <style>
        \(styles)
        </style>
        </head>
        <body>
        <header>
        <h1>mClouds</h1>
        <a href="/">Dashboard</a>
        {{#nav.classes}}<a href="/classes">Classes</a>{{/nav.classes}}{{#nav.signedIn}}<a href="/my">My sessions</a>{{/nav.signedIn}}
        {{#nav.admin}}<a href="/admin/users">Users</a>{{/nav.admin}}
        {{#nav.federationAdmin}}<a href="/admin/tokens">Tokens</a><a href="/admin/audit">Audit log</a>{{/nav.federationAdmin}}
        <span class="who">
        {{#nav.signedIn}}<a href="/account">{{nav.username}}</a> <span>{{nav.role}}</span>
        <form method="post" action="/logout"><input type="hidden" name="csrf" value="{{nav.csrf}}"><button class="small quiet" type="submit">Log out</button></form>{{/nav.signedIn}}
        {{^nav.signedIn}}<a href="/login">Log in</a>{{/nav.signedIn}}
        </span>
        </header>
        <main>
        {{{body}}}
        </main>
        </body>
        </html>
        """
}

/// A signed-in browser: the user, the session's CSRF token, and the cookie's value (for logout).
struct WebSession: Sendable {
    var user: UserStore.User
    var csrf: String
    var secret: String
}

extension HTTPField.Name {
    static var contentSecurityPolicy: HTTPField.Name { HTTPField.Name("Content-Security-Policy")! }
}
