import Core
import Foundation

/// Writes CloudStack's envelopes: `{"<command>response": …}` in JSON, or the XML form when `response=json` is absent.
enum ResponseWriter {
    enum Format { case json, xml }

    /// The envelope key: the lower-cased command name plus `response`.
    static func responseName(_ command: String) -> String { command.lowercased() + "response" }

    /// The inner object of a reply.
    static func inner(_ reply: Reply) -> JSONValue {
        switch reply {
        case .object(let name, let value): return .object([(name, value)])
        case .list(let name, let items, let count):
            if count == 0, items.isEmpty { return .object([]) }
            if items.isEmpty { return .object([("count", .int(Int64(count)))]) }
            return .object([("count", .int(Int64(count))), (name, .array(items))])
        case .inner(let value): return value
        }
    }

    /// The error object CloudStack writes (`uuidList`, `errorcode`, `cserrorcode`, `errortext`).
    static func errorObject(_ error: APIError) -> JSONValue {
        var members: [(String, JSONValue)] = [("uuidList", .array([])), ("errorcode", .int(Int64(error.errorCode)))]
        if let cs = error.csErrorCode { members.append(("cserrorcode", .int(Int64(cs)))) }
        members.append(("errortext", .string(error.text)))
        return .object(members)
    }

    static func body(key: String, inner: JSONValue, format: Format, version: String) -> String {
        switch format {
        case .json:
            return JSONValue.object([(key, inner)]).serialized()
        case .xml:
            var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><\(key) cloud-stack-version=\"\(version)\">"
            writeXMLMembers(inner, into: &out)
            out += "</\(key)>"
            return out
        }
    }

    private static func writeXMLMembers(_ value: JSONValue, into out: inout String) {
        guard case .object(let members) = value else {
            out += xmlEscape(scalarText(value))
            return
        }
        for (key, member) in members {
            switch member {
            case .array(let elements):
                for element in elements {
                    out += "<\(key)>"
                    writeXMLMembers(element, into: &out)
                    out += "</\(key)>"
                }
            case .null:
                continue
            default:
                out += "<\(key)>"
                writeXMLMembers(member, into: &out)
                out += "</\(key)>"
            }
        }
    }

    private static func scalarText(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        default: return ""
        }
    }

    private static func xmlEscape(_ s: String) -> String { s.xmlEscaped }
}
