/// What went wrong while pulling templates, with what to do about it.
public struct SyncAgentError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case unreachable
        case refused
        case stalled
        case oversized
        case corrupt
        case exhausted
        case manifestMismatch
        case imageMismatch
        case storage
        case unknownOSType
        case registrationFailed
    }

    public let kind: Kind
    public let description: String
    /// The chunk it is about (for `exhausted`).
    public internal(set) var chunk: String?
    /// The mirrors tried (for `exhausted`), in the order they were first asked.
    public internal(set) var mirrors: [String] = []

    static func unreachable(_ url: String, _ reason: String) -> Self {
        .init(kind: .unreachable, description: "\(url) cannot be fetched: \(reason). Check the URL, the network and that the server runs.")
    }
    static func refused(_ url: String, _ reason: String) -> Self {
        .init(kind: .refused, description: "\(url) cannot be reached: \(reason). Trying the other mirrors.")
    }
    static func stalled(_ url: String, _ timeout: Duration) -> Self {
        .init(kind: .stalled, description: "\(url) sent nothing for \(timeout); aborted, and the chunk is retried from where it stopped.")
    }
    static func oversized(digest: String, url: String, expected: Int) -> Self {
        .init(
            kind: .oversized,
            description:
                "\(url) sent more than the \(expected) bytes the manifest gives chunk \(digest); cut off and discarded. The mirror is broken or hostile."
        )
    }
    static func corrupt(digest: String, url: String, actual: String) -> Self {
        .init(
            kind: .corrupt,
            description:
                "Chunk \(digest) from \(url) hashes to \(actual): corrupt or tampered, discarded. Trying again (another mirror if there is one).")
    }
    static func exhausted(digest: String, attempts: Int, mirrors: [String], last: any Error) -> Self {
        var error = Self(
            kind: .exhausted,
            description:
                "Chunk \(digest) could not be fetched in \(attempts) attempts from \(mirrors.isEmpty ? "no mirror" : mirrors.joined(separator: ", ")); "
                + "last error: \(last). Its verified neighbours are kept; the next pass tries again (check the mirrors, or add one).")
        error.chunk = digest
        error.mirrors = mirrors
        return error
    }
    static func manifestMismatch(name: String, version: String) -> Self {
        .init(
            kind: .manifestMismatch,
            description: "The manifest of \(name)@\(version) is not the one the signed catalog names (digest differs). Refusing it.")
    }
    static func imageMismatch(name: String, expected: String, actual: String) -> Self {
        .init(
            kind: .imageMismatch,
            description:
                "The assembled image of \(name) hashes to \(actual), not \(expected) as signed. Nothing was installed or kept; the next pass fetches it again (if this repeats, the published manifest is inconsistent: tell the central repository's operators)."
        )
    }
    static func unknownOSType(_ name: String) -> Self {
        .init(
            kind: .unknownOSType,
            description: "The local CloudStack has no OS type named \"\(name)\" (listOsTypes). Add it, or publish with an OS type it knows.")
    }
    static func registrationFailed(_ name: String, _ status: String) -> Self {
        .init(kind: .registrationFailed, description: "CloudStack could not register \(name): \(status). It is retried on the next pass.")
    }
    static func storage(_ path: String, _ reason: String) -> Self {
        .init(kind: .storage, description: "Cannot write \(path): \(reason). Check free space and permissions of the agent's directory.")
    }
}
