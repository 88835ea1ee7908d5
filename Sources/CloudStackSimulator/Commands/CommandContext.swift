import CloudStack
import Core
import Foundation

/// One API request as a handler sees it: the command, its parameters (names lower-cased), the caller and the time.
struct CommandContext: Sendable {
    let command: String
    let parameters: [String: String]
    let caller: UserRecord
    let now: Date
    /// `http://host:port` of the simulator, for URLs it hands out (extract, console).
    let baseURL: String

    /// A required parameter, or CloudStack's 431 "missing parameter" error.
    func required(_ name: String) throws -> String {
        guard let value = parameters[name], !value.isEmpty else { throw APIError.missing(command, name) }
        return value
    }

    /// An optional parameter; empty values count as absent.
    func optional(_ name: String) -> String? {
        guard let value = parameters[name], !value.isEmpty else { return nil }
        return value
    }

    /// A boolean parameter (`true`, anything else false, as Java's `Boolean.valueOf`).
    func bool(_ name: String) -> Bool? {
        optional(name).map { $0.lowercased() == "true" }
    }

    /// An integer parameter, or CloudStack's 431 "invalid value" error.
    func int(_ name: String) throws -> Int? {
        guard let text = optional(name) else { return nil }
        guard let value = Int(text) else { throw APIError.invalidValue(command, name, text) }
        return value
    }

    /// A comma-separated list parameter.
    func list(_ name: String) -> [String] {
        optional(name)?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
    }

    /// A map parameter (`tags[0].key=k&tags[0].value=v`, or `details[0].name=value`) as key/value entries in index order.
    func map(_ name: String) -> [(index: Int, fields: [String: String])] {
        var entries: [Int: [String: String]] = [:]
        let prefix = name + "["
        for (key, value) in parameters where key.hasPrefix(prefix) {
            let rest = key.dropFirst(prefix.count)
            guard let close = rest.firstIndex(of: "]"), let index = Int(rest[..<close]) else { continue }
            let field = rest[rest.index(after: close)...].drop { $0 == "." }
            entries[index, default: [:]][String(field)] = value
        }
        return entries.keys.sorted().map { (index: $0, fields: entries[$0]!) }
    }

    /// Key/value tags from a `tags` map parameter.
    func tags(_ name: String = "tags") -> [ResourceTag] {
        map(name).compactMap { entry in
            guard let key = entry.fields["key"] else { return nil }
            return ResourceTag(key: key, value: entry.fields["value"] ?? "")
        }
    }

    var isAdmin: Bool { caller.isAdmin }
    var callerAccountID: String { caller.user.accountid ?? "" }
}

/// What a handler answers; the writer wraps it in `<command>response`.
enum Reply: Sendable {
    /// `{"<objectName>": object}`.
    case object(String, JSONValue)
    /// `{"count": N, "<objectName>": [...]}`, or `{}` when there is nothing at all.
    case list(String, [JSONValue], count: Int)
    /// The inner object as given (async submissions, job results, `{"success": true}`).
    case inner(JSONValue)

    static let success = Reply.inner(.object([("success", .bool(true))]))
}

/// Encodes models in declaration order.
func encodeModel(_ value: some Encodable) -> JSONValue {
    (try? OrderedJSONEncoder().encode(value)) ?? .object([])
}

extension CommandContext {
    /// Pages `items` like CloudStack: `page`/`pagesize` (at most 500, or -1 for all), `count` is the total.
    func page<T>(_ items: [T], objectName: String, encode: (T) -> JSONValue) throws -> Reply {
        let total = items.count
        var size = try int("pagesize")
        let page = try int("page")
        if size == nil, page != nil { size = 500 }
        if let s = size, s > 500 { throw APIError.param("Page size can't exceed max allowed page size value: 500", cs: 9999) }
        if let s = size, s == 0 || s < -1 { throw APIError.invalidValue(command, "pagesize", String(s)) }
        var slice = items[...]
        if let s = size, s > 0 {
            let p = max(1, page ?? 1)
            let start = min(total, (p - 1) * s)
            slice = items[start..<min(total, start + s)]
        }
        return .list(objectName, slice.map(encode), count: total)
    }

    /// `keyword`: case-insensitive substring of a name.
    func matchesKeyword(_ names: String?...) -> Bool {
        guard let keyword = optional("keyword")?.lowercased() else { return true }
        return names.contains { $0?.lowercased().contains(keyword) ?? false }
    }
}

extension [ResourceTag] {
    /// Whether these tags include every one of `wanted` by key and value (CloudStack's `tags` list filter: all
    /// must match; none asked for matches anything).
    func includesAll(_ wanted: [ResourceTag]) -> Bool {
        wanted.allSatisfy { want in contains { $0.key == want.key && $0.value == want.value } }
    }
}
