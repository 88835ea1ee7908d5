/// Why a simulator could not start.
public struct SimulatorError: Error, Sendable, CustomStringConvertible {
    private enum Kind: Sendable {
        case badStateFile(path: String, reason: String)
        case storageUnavailable(path: String, reason: String)
        case badConfiguration(String)
    }

    private let kind: Kind

    /// The state file exists but cannot be read back.
    public static func badStateFile(path: String, reason: String) -> SimulatorError { .init(kind: .badStateFile(path: path, reason: reason)) }
    /// The storage directory cannot be created.
    public static func storageUnavailable(path: String, reason: String) -> SimulatorError {
        .init(kind: .storageUnavailable(path: path, reason: reason))
    }
    /// The configuration is not usable.
    public static func badConfiguration(_ reason: String) -> SimulatorError { .init(kind: .badConfiguration(reason)) }

    public var description: String {
        switch kind {
        case .badStateFile(let path, let reason):
            "The simulator state file \(path) cannot be read (\(reason)). Move it away to start from a fresh state."
        case .storageUnavailable(let path, let reason):
            "The simulator storage directory \(path) cannot be created (\(reason)). Choose a writable storageDirectory."
        case .badConfiguration(let reason):
            "The simulator configuration is not usable: \(reason)."
        }
    }
}
