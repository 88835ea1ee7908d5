import Logging
import Synchronization

/// Log lines a test reads back: a handler that keeps each message with its metadata.
public final class CapturedLog: Sendable {
    public let lines = Mutex<[String]>([])

    public init() {}

    public var handler: CapturingHandler { CapturingHandler(log: self) }

    /// A logger at trace level whose lines land here.
    public func logger(label: String) -> Logger {
        var logger = Logger(label: label) { _ in self.handler }
        logger.logLevel = .trace
        return logger
    }

    public struct CapturingHandler: LogHandler {
        let log: CapturedLog
        public var logLevel: Logger.Level = .trace
        public var metadata: Logger.Metadata = [:]
        public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        public func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            log.lines.withLock { $0.append("\(event.message) \(all)") }
        }
    }
}
