import Foundation
import TemplateRepository

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps the chunk cache within its disk budget: chunks of current versions always stay; the others go,
/// least recently used first (a chunk's modification time is refreshed whenever a pass uses it), until
/// the cache fits.
public struct CacheJanitor: Sendable {
    public let cache: FileChunkStore
    public let budgetBytes: Int64

    public init(cache: FileChunkStore, budgetBytes: Int64) {
        self.cache = cache
        self.budgetBytes = budgetBytes
    }

    /// Marks chunks as just used (their modification time becomes now).
    public func touch(_ digests: some Sequence<String>) {
        for digest in digests { utimes(cache.path(for: digest), nil) }
    }

    /// Removes non-current chunks, least recently used first, until the cache fits the budget.
    /// Returns the chunks and bytes removed.
    @discardableResult
    public func trim(keeping current: Set<String>) throws -> (chunks: Int, bytes: Int64) {
        var entries: [(digest: String, size: Int64, used: Date)] = []
        var total: Int64 = 0
        for digest in try cache.allDigests() {
            let attributes = try? FileManager.default.attributesOfItem(atPath: cache.path(for: digest))
            let size = (attributes?[.size] as? NSNumber)?.int64Value ?? 0
            total += size
            if !current.contains(digest) { entries.append((digest, size, (attributes?[.modificationDate] as? Date) ?? .distantPast)) }
        }
        var removed = (chunks: 0, bytes: Int64(0))
        for entry in entries.sorted(by: { $0.used < $1.used }) where total > budgetBytes {
            try cache.remove(entry.digest)
            total -= entry.size
            removed.chunks += 1
            removed.bytes += entry.size
        }
        return removed
    }
}
