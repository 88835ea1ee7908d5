import Core
import Foundation
import TestSupport
import Testing

@Suite("mclouds demo")
struct DemoTests {
    @Test(
        "`demo --once`: the sample template reaches Ready in all three regions, its v2 moves only the chunks it does not share with v1, and the sample course's seats run before the start and are gone after the end"
    )
    func demoScenario() async throws {
        let offset = try demoPortOffset(runs: 1, in: 1_000..<7_000)
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
        // The recipe build: one region builds demo-eda@1 on demo-ubuntu; every region then fetches only its new chunks.
        let built = try #require(lines.first { $0.hasPrefix("demo-eda@1 built in MECA-PolITO: ") }, "\(result.stdout)")
        let counts = built.split(separator: ": ").last?.split(separator: " ").compactMap { Int($0) } ?? []
        #expect(counts.count == 2 && counts[0] < counts[1] / 2, "\(built)")
        #expect(
            lines.contains {
                $0.hasPrefix("removed the builder VM") || $0.hasSuffix("removed the builder VM, its volumes and the temporary template")
            })
        for region in ["MECA-PolITO", "MECA-TUS", "MECA-BME"] {
            let eda = try #require(lines.first { $0.hasPrefix(region) && $0.contains("demo-eda@1") }, "\(result.stdout)")
            #expect(eda.contains("ready, featured: downloaded "), "\(eda)")
            let reused = try #require(eda.split(separator: "reused ").last?.split(separator: " ").first.flatMap { Double($0) })
            #expect(reused > 12, "\(eda)")
        }
        #expect(lines.contains { $0.hasPrefix("demo-eda@1") && $0.components(separatedBy: "ready, featured").count == 4 })
        #expect(result.stdout.contains("central server: http://127.0.0.1:\(8080 + offset)"))
        // The classroom: the sample course's first session runs before its start and leaves nothing after its end.
        let ready = try #require(lines.first { $0.hasPrefix("all 5 seats Running at") }, "\(result.stdout)")
        let minutes = try #require(ready.split(separator: ", ").last?.split(separator: " ").first.flatMap { Int($0) })
        #expect(minutes > 0, "\(ready)")
        #expect(
            lines.contains("VMs of the booking in the simulators: 5") || lines.contains { $0.hasPrefix("VMs of the booking in the simulators: 5;") })
        #expect(lines.contains { $0.hasSuffix(": 0 VMs of the booking left in any region") })
        // The student's seat answers its ssh line, and the Guacamole export is written.
        #expect(lines.contains { $0.hasPrefix("student page:   http://127.0.0.1:") && $0.contains("/my  (sign in as demo-student") })
        #expect(
            lines.contains { $0.hasPrefix("their seat:     ssh -p 2000") && $0.hasSuffix("→ SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("Guacamole:      ") && $0.contains("user-mapping.xml  (4 students;") })
    }

    @Test("the demo can be re-run with the same --data (state reused consistently); --once exits 1 when a step fails")
    func rerunSameData() async throws {
        try await withTemporaryDirectory { directory in
            let data = directory.appendingPathComponent("demo").path
            let offset = try demoPortOffset(runs: 3, in: 7_000..<14_000)
            let arguments = ["demo", "--once", "--sample-mib", "8", "--data", data]
            let first = try await runMClouds(arguments + ["--port-offset", String(offset)])
            #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
            // Again, on other ports: the registry follows the new endpoints and keys; every region ends Ready.
            let second = try await runMClouds(arguments + ["--port-offset", String(offset + 7)])
            #expect(second.status == 0, "\(second.stdout)\n\(second.stderr)")
            #expect(!second.stdout.contains("error"), "\(second.stdout)")
            let rollout = second.stdout.split(separator: "\n").filter { $0.hasPrefix("demo-ubuntu@2") }
            #expect(rollout.count == 1 && rollout[0].components(separatedBy: "ready, featured").count == 4, "\(rollout)")
            #expect(second.stdout.contains("virtual machines   115 running of 115"))
            // The second run builds the recipe again: a new version on the counter rule, rolled out everywhere.
            #expect(second.stdout.contains("demo-eda@2 built in MECA-PolITO: "), "\(second.stdout)")
            let eda = second.stdout.split(separator: "\n").filter { $0.hasPrefix("demo-eda@2 ") && !$0.contains(" built in ") }
            #expect(eda.count == 1 && eda[0].components(separatedBy: "ready, featured").count == 4, "\(eda)")

            // A region that cannot be reached fails the sync and the collection: --once says so with status 1.
            let add = try await runMClouds(
                [
                    "region", "add", "--data", data + "/central", "--id", "9", "--name", "Dead", "--endpoint", "http://127.0.0.1:9/client/api",
                    "--api-key", "K",
                ],
                environment: ["MCLOUDS_REGION_SECRET": "S"])
            #expect(add.status == 0, "\(add.stderr)")
            let third = try await runMClouds(arguments + ["--port-offset", String(offset + 14)])
            #expect(third.status == 1, "\(third.stdout)\n\(third.stderr)")
            #expect(third.stdout.contains("error: the dashboard could not read Dead"), "\(third.stdout)\n\(third.stderr)")
        }
    }
}

/// A `--port-offset` for `runs` demo runs (run n adds 7 × n to it) whose ports are all free now and below the
/// kernel's ephemeral range, so that no client connection of another test can be holding one of them.
/// The demo's ports are fixed (8080 and 18081/18083/18086) plus the offset; tests running at once pass disjoint ranges.
func demoPortOffset(runs: Int, in range: Range<Int>) throws -> Int {
    for _ in 0..<200 {
        let offset = Int.random(in: range)
        let ports = (0..<runs).flatMap { run in [8080, 18_081, 18_083, 18_086].map { $0 + offset + 7 * run } }
        if LoopbackPorts.areFree(ports) { return offset }
    }
    throw DemoPortsTaken()
}

struct DemoPortsTaken: Error, CustomStringConvertible {
    var description: String { "No port offset found whose demo ports are all free on 127.0.0.1." }
}
