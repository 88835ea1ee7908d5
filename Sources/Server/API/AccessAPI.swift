import Access
import Core
import Foundation
import Hummingbird

/// A token as asked for through the API.
struct NewToken: Codable, Sendable {
    var name: String
    var role: Role
    /// The region id of a partner admin, the site of a site agent.
    var scope: String?
    /// Days until it expires (1–366; default 90).
    var expiresDays: Int?
}

/// A token just made: its record and, this once, its secret.
struct CreatedToken: Codable, Sendable {
    var token: TokenStore.Token
    var secret: String
}

/// `/api/v1/tokens…` and `/api/v1/audit`: issuing and revoking tokens, reading the audit log (federation admins).
struct AccessAPI: Sendable {
    let access: AccessServices

    func register(on router: GuardedRouter) {
        let access = access
        router.get("/api/v1/tokens") { _, _ in JSONResponse.make(try await access.tokens.list()) }
        router.post("/api/v1/tokens") { request, context in
            let asked = try await JSONBody.decode(NewToken.self, request, limit: 4096)
            let days = asked.expiresDays ?? 90
            guard (1...366).contains(days) else { throw APIError.badBody("expiresDays must be 1 to 366") }
            do {
                let (token, secret) = try await access.tokens.create(
                    name: asked.name, role: asked.role, scope: asked.scope, expires: Date().addingTimeInterval(Double(days) * 86_400))
                context.audit.say("token \(token.id) \"\(token.name)\", role \(token.role)\(token.scope.map { ", scope \($0)" } ?? ""), \(days) days")
                return JSONResponse.make(CreatedToken(token: token, secret: secret), status: 201)
            } catch let error as AccessError {
                throw APIError(status: 400, error.description)
            }
        }
        router.delete("/api/v1/tokens/{id}") { _, context in
            do {
                try await access.tokens.revoke(try context.parameters.require("id"))
                context.audit.say("revoked")
            } catch let error as AccessError {
                throw APIError(status: 404, error.description)
            }
            return Response(status: .noContent)
        }
        router.get("/api/v1/audit") { request, _ in
            let limit = try Query.number(request, "limit") ?? 1000
            guard limit >= 1, limit <= 100_000 else { throw APIError(status: 400, "limit must be 1 to 100000.") }
            let query = request.uri.queryParameters
            return JSONResponse.make(
                try await access.audit.entries(
                    since: query["since"].map(String.init), actor: query["actor"].map(String.init), action: query["action"].map(String.init),
                    limit: Int(limit)))
        }
    }
}
