import Foundation
import TestSupport
import Testing

@Suite("mclouds demo")
struct DemoTests {
    @Test("`demo --once`: the sample template reaches Ready in all three regions, and its v2 moves only the chunks it does not share with v1")
    func demoScenario() async throws {
        // The demo's ports are fixed (1808x and 8080) plus an offset; pick one unlikely to be taken.
        let offset = Int.random(in: 20_000..<40_000)
        let result = try await runMClouds(["demo", "--once", "--sample-mib", "24", "--port-offset", String(offset)])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        for region in ["MECA-PolITO", "MECA-TUS", "MECA-BME"] {
            let v1 = lines.filter { $0.hasPrefix(region) && $0.contains("demo-ubuntu@1") }
            let v2 = lines.filter { $0.hasPrefix(region) && $0.contains("demo-ubuntu@2") }
            #expect(v1.first?.contains("ready, featured: downloaded 24.0 MiB, reused 0 B") == true, "\(v1)")
            #expect(v1.last?.contains("ready: already here") == true, "\(v1)")
            // v2: some bytes came over the network, most were reused from v1's chunks.
            let v2Line = try #require(v2.first)
            #expect(v2Line.contains("ready, featured: downloaded "), "\(v2Line)")
            let reused = try #require(v2Line.split(separator: "reused ").last?.split(separator: " ").first.flatMap { Double($0) })
            #expect(reused > 12, "\(v2Line)")
        }
        #expect(lines.contains { $0.hasPrefix("demo-ubuntu@2") && $0.components(separatedBy: "ready, featured").count == 4 })
        #expect(result.stdout.contains("central server: http://127.0.0.1:\(8080 + offset)"))
    }
}
