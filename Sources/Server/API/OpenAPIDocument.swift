import Access
import Foundation
import Yams

/// The checked-in OpenAPI 3.1 document (`Sources/Server/Embedded/openapi.yaml`): the one source of every route the server
/// answers, its description and its access policy. The route table the gatekeeper enforces is read from it; a
/// handler can be registered only for a documented route, and a test checks that every documented route has one.
///
/// Each operation carries `x-mclouds-policy`: `public` (anyone, anonymous too), or
/// `{roles: [federation-admin, partner-admin, teacher, student, site-agent], scope: PARAMETER}` — the roles admitted,
/// and the path parameter a scoped principal's region or site must equal.
enum OpenAPIDocument {
    /// The document as checked in (`Sources/Server/Embedded/openapi.yaml`, compiled in).
    static var source: String { Embedded.openapi }

    /// Every documented operation with its policy.
    static let routes: [RouteDescription] = {
        do {
            return try routes(in: source)
        } catch {
            fatalError("openapi.yaml: \(error)")
        }
    }()

    /// The document for clients reaching the server at `serverURL` (the checked-in one names no server: `/`).
    static func text(serverURL: String) -> String {
        source.replacingOccurrences(of: "\nservers:\n  - url: /\n", with: "\nservers:\n  - url: \(serverURL)\n")
    }

    /// What is wrong with a document's operations.
    enum Problem: Error, Equatable, CustomStringConvertible {
        case notADocument
        case missingPolicy(operation: String)
        case malformedPolicy(operation: String)
        case unknownRole(operation: String, role: String)
        case unknownScopeParameter(operation: String, parameter: String)

        var description: String {
            switch self {
            case .notADocument: "not an OpenAPI document with paths"
            case .missingPolicy(let operation): "\(operation) has no x-mclouds-policy: say who may call it"
            case .malformedPolicy(let operation): "\(operation): x-mclouds-policy is `public` or {roles: [...], scope: PARAMETER}"
            case .unknownRole(let operation, let role): "\(operation): unknown role \(role) (roles: \(Role.allCases.map(\.rawValue)))"
            case .unknownScopeParameter(let operation, let parameter): "\(operation): scope \(parameter) is not a parameter of the path"
            }
        }
    }

    static let methods = ["get", "put", "post", "delete", "patch", "head"]

    /// The operations of `yaml`, sorted by path and method; every one must declare its policy.
    static func routes(in yaml: String) throws -> [RouteDescription] {
        guard let document = try? Yams.load(yaml: yaml) as? [String: Any], let paths = document["paths"] as? [String: Any] else {
            throw Problem.notADocument
        }
        var routes: [RouteDescription] = []
        for (path, item) in paths {
            for (method, operation) in item as? [String: Any] ?? [:] where methods.contains(method) {
                let name = "\(method.uppercased()) \(path)"
                let policy = try policy((operation as? [String: Any])?["x-mclouds-policy"], operation: name, path: path)
                routes.append(RouteDescription(method: method.uppercased(), path: path, policy: policy))
            }
        }
        return routes.sorted { ($0.path, $0.method) < ($1.path, $1.method) }
    }

    private static func policy(_ value: Any?, operation: String, path: String) throws -> Policy {
        guard let value else { throw Problem.missingPolicy(operation: operation) }
        if let word = value as? String {
            guard word == "public" else { throw Problem.malformedPolicy(operation: operation) }
            return .public
        }
        guard let fields = value as? [String: Any], Set(fields.keys).isSubset(of: ["roles", "scope"]), let names = fields["roles"] as? [String],
            !names.isEmpty
        else { throw Problem.malformedPolicy(operation: operation) }
        var roles = Set<Role>()
        for name in names {
            guard let role = Role(rawValue: name) else { throw Problem.unknownRole(operation: operation, role: name) }
            roles.insert(role)
        }
        var scope: String?
        if let parameter = fields["scope"] {
            guard let parameter = parameter as? String else { throw Problem.malformedPolicy(operation: operation) }
            guard path.contains("{\(parameter)}") else { throw Problem.unknownScopeParameter(operation: operation, parameter: parameter) }
            scope = parameter
        }
        return Policy(anonymous: false, roles: roles, scopeParameter: scope)
    }
}
