import CloudStack
import Core
import Foundation

/// The APIs this simulator serves, as CloudStack 4.18's `listApis` describes them (names, async flags,
/// parameter types and which are required). Requests are checked against it the way CloudStack's
/// `ParamProcessWorker` checks them.
struct APICatalog: Sendable {
    let apis: [String: ApiDescription]
    /// The `listApis` answer entries, in catalog order.
    let entries: [JSONValue]

    static let shared: APICatalog = {
        guard let url = Bundle.module.url(forResource: "apis", withExtension: "json"),
            let data = try? Data(contentsOf: url),
            let page = try? JSONDecoder().decode(ListPage<ApiDescription>.self, from: data),
            let raw = try? JSONDecoder().decode(JSONValue.self, from: data)
        else {
            fatalError("The simulator's API catalog (apis.json) is missing from the bundle; rebuild the package.")
        }
        return APICatalog(
            apis: Dictionary(page.items.map { ($0.name ?? "", $0) }, uniquingKeysWith: { a, _ in a }), entries: raw["api"]?.arrayValue ?? [])
    }()

    func isAsync(_ command: String) -> Bool { apis[command]?.isasync ?? false }

    /// The top-level response fields the catalog lists for `command` (nil when it lists none).
    func responseFields(_ command: String) -> Set<String>? {
        let names = (apis[command]?.response ?? []).compactMap { $0["name"]?.stringValue }
        return names.isEmpty ? nil : Set(names)
    }

    /// Keeps only the fields this CloudStack version's catalog lists for `command`: an answer never carries
    /// fields the reported version does not have (clients written for it may refuse them).
    func trimmed(_ reply: Reply, for command: String) -> Reply {
        guard let fields = responseFields(command) else { return reply }
        func trim(_ value: JSONValue) -> JSONValue {
            guard case .object(let members) = value else { return value }
            return .object(members.filter { fields.contains($0.0) })
        }
        switch reply {
        case .list(let name, let items, let count): return .list(name, items.map(trim), count: count)
        case .object(let name, let value): return .object(name, trim(value))
        case .inner: return reply
        }
    }

    /// `list*` commands of the catalog the simulator does not model: they answer an empty list (`{}`), as
    /// CloudStack does when there is nothing of the kind, instead of the unknown-command 401.
    func isUnmodelledList(_ command: String) -> Bool {
        command.hasPrefix("list") && apis[command] != nil && CommandTable.handlers[command] == nil
    }

    /// Checks required parameters and value types; throws CloudStack's 431 errors.
    func validate(_ command: String, _ parameters: [String: String]) throws {
        guard let api = apis[command] else { return }
        for param in api.params ?? [] {
            guard let name = param.name?.lowercased() else { continue }
            let value = parameters[name]
            if param.required == true, value == nil || value!.isEmpty {
                // Map parameters arrive as name[0].key=…; they count as present.
                if param.type == "map", parameters.keys.contains(where: { $0.hasPrefix(name + "[") }) { continue }
                throw APIError.missing(command, name)
            }
            guard let value, !value.isEmpty else { continue }
            switch param.type {
            case "integer", "short":
                if Int32(value) == nil { throw APIError.invalidValue(command, name, value) }
            case "long":
                if Int64(value) == nil { throw APIError.invalidValue(command, name, value) }
            case "uuid":
                if value != "-1", UUID(uuidString: value) == nil { throw APIError.unknownEntity(command, name, value) }
            case "date":
                if CloudStackDateFormat.date(from: value) == nil, !Self.isPlainDate(value) {
                    throw APIError(
                        errorCode: 431, csErrorCode: 9999,
                        text:
                            "Unable to parse date \(value) for command \(command.lowercased()), please pass dates in the format mentioned in the api documentation"
                    )
                }
            default:
                break
            }
        }
    }

    static func isPlainDate(_ value: String) -> Bool {
        let parts = value.split(separator: "-")
        return parts.count == 3 && parts.allSatisfy { Int($0) != nil }
    }
}
