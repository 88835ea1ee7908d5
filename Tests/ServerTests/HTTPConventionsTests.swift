import Core
import Federation
import Foundation
import NIOHTTP1
import Server
import TemplateRepository
import Testing
import Yams

@Suite("HTTP as clients expect it")
struct HTTPConventionsTests {
    static let admin = [("Authorization", "Bearer admin-token")]

    /// A path of the route with its parameters filled in.
    static func fill(_ path: String, _ values: [String: String]) -> String {
        values.reduce(path) { $0.replacingOccurrences(of: "{\($1.key)}", with: $1.value) }
    }

    static let good = ["name": "ubuntu-22.04", "version": "1.0", "digest": String(repeating: "a", count: 64), "id": "6", "site": "MECA-TUS"]

    @Test("HEAD answers every GET route with the GET's status and headers and no body")
    func headOnEveryGet() async throws {
        try await withServer { server, repository, directory in
            _ = try await repository.publish(imageAt: try writeFile(bytes(30_000, seed: 8), in: directory), metadata: sampleMetadata())
            for route in MCloudsServer.routes where route.method == "GET" {
                let url = server.baseURL + Self.fill(route.path, Self.good)
                let get = try await http(.GET, url)
                let head = try await http(.HEAD, url)
                #expect(head.status == get.status, "\(route.path)")
                #expect(head.body.isEmpty, "\(route.path)")
                #expect(head.headers.first(name: "Content-Type") == get.headers.first(name: "Content-Type"), "\(route.path)")
            }
        }
    }

    @Test("a known path with a method it does not take answers 405 with Allow; an unknown path 404")
    func methodNotAllowed() async throws {
        try await withServer { server, _, _ in
            let delete = try await http(.DELETE, server.baseURL + "/api/v1/templates")
            #expect(delete.status == 405 && delete.headers.first(name: "Allow") == "GET, HEAD")
            #expect(delete.json?["error"]?["status"]?.intValue == 405)
            let put = try await http(.PUT, server.baseURL + "/api/v1/regions/6")
            #expect(put.status == 405 && put.headers.first(name: "Allow") == "GET, HEAD, PATCH, DELETE")
            let sync = try await http(.GET, server.baseURL + "/api/v1/regions/sync")
            #expect(sync.status == 405 && sync.headers.first(name: "Allow") == "POST")
            #expect(try await http(.GET, server.baseURL + "/api/v1/nothing").status == 404)
        }
    }

    @Test("the OpenAPI document names the server the request came to, and lists every status the server answers")
    func documentAsStrictAsServer() async throws {
        try await withServer { server, repository, directory in
            _ = try await repository.publish(imageAt: try writeFile(bytes(30_000, seed: 8), in: directory), metadata: sampleMetadata())
            let yaml = try await http(.GET, server.baseURL + "/openapi.yaml")
            let document = try #require(try Yams.load(yaml: String(decoding: yaml.body, as: UTF8.self)) as? [String: Any])
            let servers = try #require(document["servers"] as? [[String: Any]])
            #expect(servers.first?["url"] as? String == server.baseURL)
            let forged = try await http(.GET, server.baseURL + "/openapi.yaml", headers: [("Host", "evil.example/<script>")])
            #expect(!String(decoding: forged.body, as: UTF8.self).contains("evil.example"))

            let paths = try #require(document["paths"] as? [String: [String: Any]])
            func documented(_ route: RouteDescription) -> Set<String> {
                let operation = paths[route.path]?[route.method.lowercased()] as? [String: Any]
                return Set(((operation?["responses"] as? [String: Any]) ?? [:]).keys.map { "\($0)" })
            }
            let bad = ["name": "no-such", "version": "9", "digest": String(repeating: "b", count: 64), "id": "999", "site": "x"]
            let junk = ["name": "..", "version": "..", "digest": "zz", "id": "abc", "site": "a..b"]
            var unlisted: [String] = []
            for route in MCloudsServer.routes {
                let method = HTTPMethod(rawValue: route.method)
                var probes: [(String, [(String, String)], [UInt8]?)] = []
                for values in [Self.good, bad, junk] {
                    let url = server.baseURL + Self.fill(route.path, values)
                    probes.append((url, [], nil))
                    probes.append((url, Self.admin, Array("{not json".utf8)))
                    probes.append((url + "?dryRun=maybe&hours=x", Self.admin, nil))
                }
                for (url, headers, body) in probes {
                    let answer = try await http(method, url, headers: headers, body: body)
                    if answer.status != 200, !documented(route).contains(String(answer.status)) {
                        unlisted.append("\(route.method) \(route.path) → \(answer.status)")
                    }
                }
            }
            #expect(Set(unlisted).isEmpty, "statuses the document does not list: \(Set(unlisted).sorted())")
        }
    }
}
