import ArgumentParser
import Core
import Foundation
import Yams

/// Reads a YAML configuration file with errors a user can act on: the file and line, the field's dotted path,
/// unknown keys refused with the nearest known one ("agent.yaml line 4: unknown key keepVersion (did you mean
/// keepVersions?)"), and never a decoder's internals (`CodingKeys(stringValue: …)`).
enum ConfigurationFile {
    /// Decodes `T` from the YAML file at `path`.
    /// - Throws: ``CLIError`` naming the file, line and field.
    static func load<T: Decodable>(_ type: T.Type, path: String) throws -> T {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CLIError("Cannot read \(path): \(FileProblem.describe(path: path))")
        }
        return try decode(type, from: text, name: (path as NSString).lastPathComponent)
    }

    /// Decodes `T` from `text`; `name` names the document in errors.
    static func decode<T: Decodable>(_ type: T.Type, from text: String, name: String) throws -> T {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw CLIError("\(name) is not YAML: \(error)")
        }
        let value: T
        do {
            value = try YAMLDecoder().decode(type, from: text)
        } catch let error as DecodingError {
            throw CLIError(describe(error, root: root, name: name))
        }
        if let root { try checkKeys(root, against: value, path: [], name: name) }
        return value
    }

    /// Every key of a YAML mapping must be a stored property of the value decoded from it.
    static func checkKeys(_ node: Node, against value: Any, path: [String], name: String) throws {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            if let wrapped = mirror.children.first?.value { try checkKeys(node, against: wrapped, path: path, name: name) }
            return
        }
        switch (mirror.displayStyle, node) {
        case (.struct?, .mapping(let mapping)), (.class?, .mapping(let mapping)):
            let known = mirror.children.compactMap(\.label)
            for (key, child) in mapping {
                guard let keyText = key.string else { continue }
                guard let index = known.firstIndex(of: keyText) else {
                    let field = (path + [keyText]).joined(separator: ".")
                    throw CLIError(
                        "\(name)\(line(key)): unknown key \(field)\(Suggestion.didYouMean(keyText, among: known)); see the example configuration.")
                }
                try checkKeys(child, against: Array(mirror.children)[index].value, path: path + [keyText], name: name)
            }
        case (.collection?, .sequence(let sequence)):
            for (index, (element, child)) in zip(mirror.children.map(\.value), sequence).enumerated() {
                try checkKeys(child, against: element, path: path.dropLast() + ["\(path.last ?? "")[\(index)]"], name: name)
            }
        default:
            break
        }
    }

    /// A decoding error as `FILE line N: field a.b: what is wrong`.
    static func describe(_ error: DecodingError, root: Node?, name: String) -> String {
        func field(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: ["."])
        }
        func at(_ path: [any CodingKey]) -> String { line(node(at: path, in: root)) }
        switch error {
        case .keyNotFound(let key, let context):
            let full = field(context.codingPath + [key])
            return "\(name)\(at(context.codingPath)): \(full) is missing; it is required."
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return "\(name)\(at(context.codingPath)): \(field(context.codingPath)) must be \(describe(type))."
        case .dataCorrupted(let context):
            let path = field(context.codingPath)
            return "\(name)\(at(context.codingPath)): \(path.isEmpty ? "the document" : path) is not valid (\(context.debugDescription))."
        @unknown default:
            return "\(name) is not valid."
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type, is Int32.Type: "a whole number"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "text"
        default: String(describing: type).hasPrefix("Array") ? "a list" : "a mapping of keys to values"
        }
    }

    static func node(at path: [any CodingKey], in root: Node?) -> Node? {
        var current = root
        for key in path {
            if let index = key.intValue, let sequence = current?.sequence, index < sequence.count {
                current = sequence[index]
            } else {
                current = current?.mapping?[key.stringValue]
            }
        }
        return current
    }

    static func line(_ node: Node?) -> String { node?.mark.map { " line \($0.line)" } ?? "" }
}

/// Why a file cannot be read, in words (`no such file`, `permission denied`, `is a directory`).
enum FileProblem {
    static func describe(path: String) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return "no such file" }
        if isDirectory.boolValue { return "it is a directory" }
        if !FileManager.default.isReadableFile(atPath: path) { return "permission denied" }
        return "it is not UTF-8 text"
    }
}

/// Checks a URL option before anything is sent: `--server needs a URL such as http://host:8080 (got 127.0.0.1:9)`.
enum URLOption {
    static func validate(_ value: String, option: String, example: String = "http://host:8080") throws {
        guard let url = URL(string: value), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host?.isEmpty == false
        else {
            throw ValidationError("\(option) needs a URL such as \(example) (got \(Console.escaped(value))).")
        }
    }
}
