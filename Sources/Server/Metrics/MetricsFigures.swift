import Foundation
import Synchronization

/// What `/metrics` shows that changes only with the stored state (figures per region and site), rendered once per
/// state, and the times from which the ages are computed at each scrape.
struct MetricsFigures: Sendable {
    /// The rendered families, as the bytes every scrape sends.
    var text: [UInt8]
    var collected: [(region: String, collected: Date)]
    var reported: [(site: String, reported: Date)]

    /// The figures of the last state asked for.
    final class Cache: Sendable {
        private let kept = Mutex<(key: String, figures: MetricsFigures)?>(nil)

        func figures(key: String, make: () async throws -> MetricsFigures) async throws -> MetricsFigures {
            if let kept = kept.withLock({ $0 }), kept.key == key { return kept.figures }
            let figures = try await make()
            kept.withLock { $0 = (key, figures) }
            return figures
        }
    }
}
