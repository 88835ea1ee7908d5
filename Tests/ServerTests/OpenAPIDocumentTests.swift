import Access
import Testing

@testable import Server

/// The route table is read from `openapi.yaml`: an operation that does not say who may call it, or says it
/// wrongly, is refused, so a new route cannot be added without a policy.
@Suite("API document as the route table")
struct OpenAPIDocumentTests {
    static func document(_ operation: String, path: String = "/api/v1/things/{id}") -> String {
        """
        openapi: 3.1.0
        info: {title: t, version: '1'}
        paths:
          \(path):
            get:
              summary: A thing.
        \(operation.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
              responses: {'200': {description: ok}}
        """
    }

    @Test("policies read from x-mclouds-policy: public, roles, roles with a scope parameter")
    func readsPolicies() throws {
        #expect(try OpenAPIDocument.routes(in: Self.document("x-mclouds-policy: public")).first?.policy == .public)
        let admins = try OpenAPIDocument.routes(in: Self.document("x-mclouds-policy: {roles: [federation-admin, partner-admin]}"))
        #expect(admins == [RouteDescription(method: "GET", path: "/api/v1/things/{id}", policy: .admins)])
        #expect(admins.first?.policy == .admins)
        let scoped = try OpenAPIDocument.routes(in: Self.document("x-mclouds-policy: {roles: [federation-admin, site-agent], scope: id}"))
        #expect(scoped.first?.policy == .siteAgent(parameter: "id"))
    }

    @Test("an operation without a policy, with an unknown role, a malformed policy or a scope not in its path is refused")
    func refusesBadPolicies() {
        let operation = "GET /api/v1/things/{id}"
        #expect(throws: OpenAPIDocument.Problem.missingPolicy(operation: operation)) { try OpenAPIDocument.routes(in: Self.document("")) }
        #expect(throws: OpenAPIDocument.Problem.unknownRole(operation: operation, role: "janitor")) {
            try OpenAPIDocument.routes(in: Self.document("x-mclouds-policy: {roles: [teacher, janitor]}"))
        }
        #expect(throws: OpenAPIDocument.Problem.malformedPolicy(operation: operation)) {
            try OpenAPIDocument.routes(in: Self.document("x-mclouds-policy: everyone"))
        }
        #expect(throws: OpenAPIDocument.Problem.malformedPolicy(operation: operation)) {
            try OpenAPIDocument.routes(in: Self.document("x-mclouds-policy: {roles: []}"))
        }
        #expect(throws: OpenAPIDocument.Problem.malformedPolicy(operation: operation)) {
            try OpenAPIDocument.routes(in: Self.document("x-mclouds-policy: {roles: [teacher], anonymous: true}"))
        }
        #expect(throws: OpenAPIDocument.Problem.unknownScopeParameter(operation: operation, parameter: "site")) {
            try OpenAPIDocument.routes(in: Self.document("x-mclouds-policy: {roles: [site-agent], scope: site}"))
        }
        #expect(throws: OpenAPIDocument.Problem.notADocument) { try OpenAPIDocument.routes(in: "openapi: [") }
    }

    @Test("the checked-in document declares a policy on every operation, and the pages and the API are all in it")
    func checkedInDocument() throws {
        let routes = try OpenAPIDocument.routes(in: OpenAPIDocument.source)
        #expect(routes == OpenAPIDocument.routes)
        let names = Set(routes.map { "\($0.method) \($0.path)" })
        for expected in ["GET /login", "GET /admin/audit", "POST /api/v1/sites/{site}/report", "GET /healthz", "HEAD /api/v1/chunks/{digest}"] {
            #expect(names.contains(expected), "\(expected)")
        }
        #expect(routes.first { $0.path == "/api/v1/sites/{site}/report" }?.policy == .siteAgent(parameter: "site"))
    }
}
