import Synchronization

/// What a change did, as its handler describes it for the audit log (`state: published → withdrawn`,
/// `role teacher, region 6`): one per request, written by the handler, read by the gatekeeper when it records the
/// change. Never given a secret.
final class AuditNote: Sendable {
    private let parts = Mutex<[String]>([])

    /// Adds a part of the summary (parts are joined with `; `).
    func say(_ text: String) {
        parts.withLock { $0.append(text) }
    }

    /// `before → after` for one field, or nothing when it did not change.
    func change<T: Equatable>(_ field: String, from before: T, to after: T) {
        if before != after { say("\(field): \(before) → \(after)") }
    }

    /// The summary so far.
    var summary: String { parts.withLock { $0.joined(separator: "; ") } }
}
