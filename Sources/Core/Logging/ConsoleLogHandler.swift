import Foundation
import Logging
import Synchronization

/// Log lines for people on standard error, as swift-log's `StreamLogHandler` writes them
/// (`2026-12-01T21:38:13+0000 info mclouds.agent: site=MECA-TUS [SyncAgent] template synced`), but through
/// ``TerminalLine`` so that a line never breaks into a progress bar, and with control characters escaped.
public struct ConsoleLogHandler: LineLogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String

    public init(label: String) { self.label = label }

    public func log(event: LogEvent) {
        let merged = mergedMetadata(event)
        let fields = merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")
        let time = Self.formatter.withLock { $0.string(from: Date()) }
        let text = "\(time) \(event.level) \(label):\(fields.isEmpty ? "" : " " + fields) [\(event.source)] \(event.message)"
        TerminalLine.write(Console.escaped(text) + "\n")
    }

    private static let formatter = Mutex<DateFormatter>(
        {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ssZ"
            return formatter
        }())
}
