import Foundation
import TestSupport
import Testing

@Suite("mclouds template recipe")
struct RecipeCommandTests {
    static let recipes = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("recipes")

    @Test("validate accepts both sample recipes and names the file, line and field of a bad one (exit 1)")
    func validate() async throws {
        let samples = ["microelectronics-ubuntu.yaml", "digital-design-windows.yaml"].map { Self.recipes.appendingPathComponent($0).path }
        let good = try await runMClouds(["template", "recipe", "validate"] + samples)
        #expect(good.status == 0, "\(good.stderr)")
        #expect(
            good.stdout.contains("microelectronics-ubuntu, linux from ubuntu-22.04, 10 packages, 8 checks, rebuilt monthly on day 1 at 02:00 UTC"))
        #expect(good.stdout.contains("digital-design-windows, windows from windows-server-2022"))
        try await withTemporaryDirectory { directory in
            let bad = directory.appendingPathComponent("bad.yaml")
            let text = try String(contentsOfFile: samples[0], encoding: .utf8).replacingOccurrences(
                of: "  - klayout\n", with: "  - \"klayout; rm -rf /\"\n")
            try text.write(to: bad, atomically: true, encoding: .utf8)
            let refused = try await runMClouds(["template", "recipe", "validate", bad.path])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("bad.yaml:14: packages[3]:"), "\(refused.stderr)")
        }
    }

    @Test("user-data prints the cloud-config a build deploys with; cloud-init schema accepts it", .enabled(if: Tools.available("cloud-init")))
    func userData() async throws {
        let tool = try #require(Tools.path("cloud-init"), "scripts/test installs Debian's cloud-init")
        let printed = try await runMClouds([
            "template", "recipe", "user-data", Self.recipes.appendingPathComponent("microelectronics-ubuntu.yaml").path,
        ])
        #expect(printed.status == 0 && printed.stdout.hasPrefix("#cloud-config\n"))
        try await withTemporaryDirectory { directory in
            let file = directory.appendingPathComponent("user-data")
            try printed.stdout.write(to: file, atomically: true, encoding: .utf8)
            let checked = try await runProgram(tool, ["schema", "-c", file.path])
            #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        }
    }
}
