import Core
import Crypto
import Foundation
import SyncAgent
import TemplateRepository
import TestSupport
import Testing

@Suite("Chunk cache budget")
struct CacheJanitorTests {
    @Test("over budget, chunks of old versions go least recently used first; current chunks never go")
    func trim() async throws {
        try await withTemporaryDirectory { directory in
            let cache = try FileChunkStore(dataDirectory: directory)
            var digests: [String] = []
            for i in 0..<6 {
                let bytes = [UInt8](repeating: UInt8(i), count: 1000)
                let digest = SHA256.hash(data: bytes).hexString
                try cache.put(digest, bytes: bytes)
                digests.append(digest)
            }
            // Ages: chunk i last used i hours ago… except chunk 4, used just now.
            for (i, digest) in digests.enumerated() {
                let date = Date().addingTimeInterval(-Double(i) * 3600)
                try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: cache.path(for: digest))
            }
            let janitor = CacheJanitor(cache: cache, budgetBytes: 3000)
            janitor.touch([digests[4]])
            let current: Set = [digests[0], digests[5]]
            let removed = try janitor.trim(keeping: current)
            #expect(removed.chunks == 3 && removed.bytes == 3000)
            // Oldest non-current first: 3 and 2 and 1 went; 4 (just used) and the current ones stayed.
            #expect(Set(try cache.allDigests()) == [digests[0], digests[4], digests[5]])
            // Current chunks stay even when they alone exceed the budget.
            #expect(try CacheJanitor(cache: cache, budgetBytes: 0).trim(keeping: Set(try cache.allDigests())).chunks == 0)
        }
    }
}
