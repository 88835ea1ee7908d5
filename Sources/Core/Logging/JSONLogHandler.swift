import Foundation
import Logging
import Synchronization

/// Log lines as JSON objects, one per line, for log shippers:
/// `{"time":"…","level":"info","label":"mclouds.agent","message":"template synced","template":"ubuntu",…}`.
public struct JSONLogHandler: LineLogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable (String) -> Void

    /// A handler writing to standard error.
    public static func standardError(label: String) -> JSONLogHandler {
        JSONLogHandler(label: label) { line in TerminalLine.write(line) }
    }

    public init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.write = write
    }

    public func log(event: LogEvent) {
        let merged = mergedMetadata(event)
        var object: [(String, JSONValue)] = [
            ("time", .string(Self.timestamp())), ("level", .string(event.level.rawValue)), ("label", .string(label)),
            ("component", .string(event.source)), ("message", .string("\(event.message)")),
        ]
        let reserved: Set<String> = ["time", "level", "label", "component", "message"]
        for key in merged.keys.sorted() where !reserved.contains(key) {
            object.append((key, Self.value(merged[key]!)))
        }
        write(JSONValue.object(object).serialized() + "\n")
    }

    static func value(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        // Numbers stay numbers (`"bytes": 268435456`, `"seconds": 1.5`), durations become seconds.
        case .stringConvertible(let convertible as any BinaryInteger): .int(Int64(truncatingIfNeeded: convertible))
        case .stringConvertible(let convertible as Double): convertible.isFinite ? .double(convertible) : .string(convertible.description)
        case .stringConvertible(let convertible as Bool): .bool(convertible)
        case .stringConvertible(let convertible as Duration):
            .double(Double(convertible.components.seconds) + Double(convertible.components.attoseconds) / 1e18)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(Self.value))
        case .dictionary(let dictionary): .object(dictionary.keys.sorted().map { ($0, Self.value(dictionary[$0]!)) })
        }
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}
