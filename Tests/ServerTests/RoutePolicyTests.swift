import Access
import Foundation
import NIOHTTP1
import Server
import TestSupport
import Testing

/// Every route of the server × every kind of caller, against the route's declared policy: a route without a
/// policy cannot be registered, and a handler that forgot its check cannot slip through.
@Suite("Route policies")
struct RoutePolicyTests {
    @Test("every route × anonymous, every role, a token scoped elsewhere, an expired and a revoked token: 401/403 exactly where the policy says")
    func everyRouteEveryRole() async throws {
        try await withServer { server, _, _ in
            let access = try #require(server.access)
            let tokens = access.tokens
            let soon = Date().addingTimeInterval(3600)
            // One caller per role, scoped to region 6 and site S-1, and the same roles scoped elsewhere.
            var callers: [(name: String, principal: Principal?, secret: String?)] = [("anonymous", nil, nil)]
            for role in Role.allCases {
                let scope: String? = role == .partnerAdmin ? "6" : role == .siteAgent ? "S-1" : nil
                let (token, secret) = try await tokens.create(name: role.rawValue, role: role, scope: scope, expires: soon)
                callers.append((role.rawValue, Principal(id: token.id, role: role, scope: scope), secret))
                if let scope {
                    let other = scope == "6" ? "7" : "S-2"
                    let (elsewhere, secret) = try await tokens.create(name: "\(role.rawValue) elsewhere", role: role, scope: other, expires: soon)
                    callers.append(("\(role.rawValue) of \(other)", Principal(id: elsewhere.id, role: role, scope: other), secret))
                }
            }
            let (revoked, revokedSecret) = try await tokens.create(name: "revoked", role: .federationAdmin, scope: nil, expires: soon)
            try await tokens.revoke(revoked.id)
            let (_, expiredSecret) = try await tokens.create(
                name: "expired", role: .federationAdmin, scope: nil, expires: Date().addingTimeInterval(1), now: Date().addingTimeInterval(-10))
            try await Task.sleep(for: .milliseconds(1100))

            let values = [
                "name": "ubuntu", "version": "1", "digest": String(repeating: "0", count: 64), "site": "S-1", "id": "6", "username": "nobody",
            ]
            var checked = 0
            for route in MCloudsServer.routes {
                // The path with its parameters filled in (the scoped ones as the in-scope callers have them).
                let path = route.path.split(separator: "/", omittingEmptySubsequences: false).map { segment -> String in
                    guard segment.hasPrefix("{"), segment.hasSuffix("}") else { return String(segment) }
                    return values[String(segment.dropFirst().dropLast())] ?? "x"
                }.joined(separator: "/")
                let parameters = Dictionary(uniqueKeysWithValues: values.filter { route.path.contains("{\($0.key)}") }.map { ($0.key, $0.value) })
                for caller in callers {
                    let headers = caller.secret.map { [("Authorization", "Bearer \($0)")] } ?? []
                    let answer = try await http(HTTPMethod(rawValue: route.method), server.baseURL + path, headers: headers, body: Array("{}".utf8))
                    let context = "\(route.method) \(route.path) as \(caller.name) (policy: \(route.policy)): \(answer.status)"
                    // A page asked for without credentials sends the browser to the login form.
                    let unauthenticated = route.isPage && route.method == "GET" ? 303 : 401
                    switch route.policy.decide(caller.principal, parameters: parameters) {
                    case .allow where route.method == "POST" && route.path == "/login":
                        // Open to all, but it answers 401 to a wrong password and 403 to a form without its CSRF
                        // cookie, 429 once its tries from one address are spent (WebLoginTests).
                        #expect([401, 403, 429].contains(answer.status), "\(context)")
                    case .allow: #expect(answer.status != 401 && answer.status != 403, "\(context)")
                    case .unauthenticated: #expect(answer.status == unauthenticated, "\(context)")
                    case .forbidden: #expect(answer.status == 403, "\(context)")
                    }
                    checked += 1
                }
                // Credentials that are no longer valid are refused even where anonymous callers are welcome.
                for secret in [revokedSecret, expiredSecret, "mclouds_" + String(repeating: "a", count: 64)] {
                    let answer = try await http(
                        HTTPMethod(rawValue: route.method), server.baseURL + path, headers: [("Authorization", "Bearer \(secret)")],
                        body: Array("{}".utf8))
                    let refused = route.isPage && route.method == "GET" ? 303 : 401
                    #expect(answer.status == refused, "\(route.method) \(route.path) with an invalid token: \(answer.status)")
                }
            }
            #expect(checked == MCloudsServer.routes.count * callers.count)
            // Anonymous callers reach only what is public.
            let open = MCloudsServer.routes.filter { $0.policy.anonymous }.map { "\($0.method) \($0.path)" }
            #expect(
                open.allSatisfy { !$0.hasPrefix("PUT") && !$0.hasPrefix("DELETE") && !$0.hasPrefix("PATCH") && !$0.contains("tokens") }, "\(open)")

            // Refusals left a trace: audited with the source address.
            let refused = try await access.audit.entries().filter { $0.result.hasSuffix("refused") }
            #expect(!refused.isEmpty && refused.allSatisfy { $0.source == "127.0.0.1" })
            #expect(try await access.audit.verify() > 0)
        }
    }
}
