import Access
import Core
import Dashboard
import Federation
import Foundation
import NIOHTTP1
import Server
import TemplateRepository
import TestSupport
import Testing
import Yams

@Suite("OpenAPI document")
struct OpenAPITests {
    @Test("/openapi.yaml is the checked-in document with this server's URL, and the server answers every route it lists")
    func routesMatch() async throws {
        try await withServer { server, _, _ in
            let answer = try await http(.GET, "\(server.baseURL)/openapi.yaml")
            #expect(answer.status == 200)
            let served = String(decoding: answer.body, as: UTF8.self)
            let document = try #require(try Yams.load(yaml: served) as? [String: Any])
            #expect(document["openapi"] as? String == "3.1.0")
            #expect((document["servers"] as? [[String: Any]])?.first?["url"] as? String == server.baseURL)
            let paths = try #require(document["paths"] as? [String: Any])
            var documented = Set<String>()
            for (path, item) in paths {
                for (method, _) in item as? [String: Any] ?? [:] where ["get", "put", "post", "delete", "head", "patch"].contains(method) {
                    documented.insert("\(method.uppercased()) \(path)")
                }
            }
            // The route table is the document's, and a handler is registered for every route in it.
            #expect(documented == Set(MCloudsServer.routes.map { "\($0.method) \($0.path)" }))
            #expect(Set(server.answeredRoutes().map { "\($0.method) \($0.path)" }) == documented)
            #expect(MCloudsServer.routes.count >= 49)
        }
    }

    @Test("openapi-spec-validator (PyPI) finds the served document valid OpenAPI 3.1", .enabled(if: Tools.available("openapi-spec-validator")))
    func validatorAccepts() async throws {
        let validator = try #require(Tools.path("openapi-spec-validator"), "scripts/test installs openapi-spec-validator")
        try await withServer { server, _, directory in
            let answer = try await http(.GET, "\(server.baseURL)/openapi.yaml")
            let file = directory.appendingPathComponent("openapi.yaml")
            try Data(answer.body).write(to: file)
            let result = try await runProgram(validator, [file.path])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("OK"))
        }
    }

    @Test("responses carry every property the document calls required")
    func responsesMatchSchemas() async throws {
        try await withServer { server, repository, directory in
            _ = try await repository.publish(imageAt: try writeFile(bytes(30_000, seed: 8), in: directory), metadata: sampleMetadata())
            let federation = try #require(server.federation)
            try await federation.registry.add(
                FederationRegion(id: 6, name: "MECA-TUS", endpoint: "http://127.0.0.1:9/client/api", apiKey: "K"), secretKey: "S")
            try await federation.collector.collectNow()
            let yaml = try await http(.GET, "\(server.baseURL)/openapi.yaml")
            let document = try #require(try Yams.load(yaml: String(decoding: yaml.body, as: UTF8.self)) as? [String: Any])
            let checks: [(path: String, url: String)] = [
                ("/api/v1/templates", "/api/v1/templates"),
                ("/api/v1/templates/{name}", "/api/v1/templates/ubuntu-22.04"),
                ("/api/v1/templates/{name}/versions/{version}/manifest", "/api/v1/templates/ubuntu-22.04/versions/1.0/manifest"),
                ("/api/v1/catalog", "/api/v1/catalog"),
                ("/healthz", "/healthz"),
                ("/api/v1/repository", "/api/v1/repository"),
                ("/api/v1/rollout", "/api/v1/rollout"),
                ("/api/v1/regions", "/api/v1/regions"),
                ("/api/v1/regions/{id}", "/api/v1/regions/6"),
                ("/api/v1/dashboard", "/api/v1/dashboard"),
                ("/api/v1/dashboard/history", "/api/v1/dashboard/history"),
            ]
            for check in checks {
                let answer = try await http(.GET, server.baseURL + check.url, headers: [("Authorization", "Bearer admin-token")])
                #expect(answer.status == 200, "\(check.url)")
                let schema = try #require(Self.responseSchema(document, path: check.path), "\(check.path)")
                let problems = Self.missingRequired(try #require(answer.json), schema: schema, document: document, at: check.url)
                #expect(problems.isEmpty, "\(problems)")
            }
            let notFound = try await http(.GET, "\(server.baseURL)/api/v1/templates/nope")
            let errorSchema = try #require(Self.resolve(["$ref": "#/components/schemas/Error"], document))
            #expect(Self.missingRequired(try #require(notFound.json), schema: errorSchema, document: document, at: "error").isEmpty)
        }
    }

    static func responseSchema(_ document: [String: Any], path: String) -> [String: Any]? {
        let paths = document["paths"] as? [String: Any]
        let get = (paths?[path] as? [String: Any])?["get"] as? [String: Any]
        let ok = (get?["responses"] as? [String: Any])?["200"] as? [String: Any]
        let json = ((ok?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
        return json.flatMap { resolve($0, document) }
    }

    static func resolve(_ schema: [String: Any], _ document: [String: Any]) -> [String: Any]? {
        guard let ref = schema["$ref"] as? String else { return schema }
        var node: Any? = document
        for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
        return (node as? [String: Any]).flatMap { resolve($0, document) }
    }

    /// Required properties absent from `value`, walking objects and arrays.
    static func missingRequired(_ value: JSONValue, schema: [String: Any], document: [String: Any], at path: String) -> [String] {
        var problems: [String] = []
        if let items = schema["items"] as? [String: Any], let array = value.arrayValue, let itemSchema = resolve(items, document) {
            for (i, element) in array.enumerated() {
                problems += missingRequired(element, schema: itemSchema, document: document, at: "\(path)[\(i)]")
            }
        }
        guard value.objectMembers != nil else { return problems }
        for name in schema["required"] as? [String] ?? [] where value[name] == nil { problems.append("\(path).\(name)") }
        for (name, property) in schema["properties"] as? [String: Any] ?? [:] {
            guard let child = value[name], let propertySchema = (property as? [String: Any]).flatMap({ resolve($0, document) }) else { continue }
            problems += missingRequired(child, schema: propertySchema, document: document, at: "\(path).\(name)")
        }
        return problems
    }
}
