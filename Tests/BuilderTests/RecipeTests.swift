import Builder
import Foundation
import TemplateRepository
import TestSupport
import Testing

@Suite("Recipes")
struct RecipeTests {
    static let samples = ["microelectronics-ubuntu.yaml", "digital-design-windows.yaml"]

    func sample(_ name: String) throws -> Recipe {
        try Recipe.parse(String(contentsOf: checkout.appendingPathComponent("recipes/\(name)"), encoding: .utf8), file: name)
    }

    @Test("both sample recipes validate: the Linux one's EDA tools and the Windows one's Chocolatey packages, checks and schedules")
    func samplesValidate() throws {
        let linux = try sample("microelectronics-ubuntu.yaml")
        #expect(linux.os == .linux && linux.base == .repository(name: "ubuntu-22.04", version: nil))
        #expect(Set(["yosys", "iverilog", "gtkwave", "klayout", "magic", "ngspice", "verilator"]).isSubset(of: Set(linux.packages)))
        #expect(linux.checks.count == 8 && linux.schedule == RebuildSchedule(every: .monthly, day: 1, minute: 120))
        #expect(linux.version == .date && linux.build.offering == "Medium Instance" && linux.output.osType == "Ubuntu 22.04 LTS")
        let windows = try sample("digital-design-windows.yaml")
        #expect(windows.os == .windows && windows.packageManager == .chocolatey && windows.packages.contains("vscode"))
        #expect(windows.version == .counter && windows.schedule?.every == .monthly && windows.powershell?.contains("Set-TimeZone") == true)
    }

    @Test(
        "the Linux sample's generated user data passes cloud-init's own schema check (Debian's cloud-init)",
        .enabled(if: Tools.available("cloud-init")))
    func cloudInitSchema() async throws {
        let tool = try #require(Tools.path("cloud-init"), "scripts/test installs Debian's cloud-init")
        let recipe = try sample("microelectronics-ubuntu.yaml")
        let plan = BuildPlan(
            callback: "http://127.0.0.1:8080/api/v1/builds/bld-1/callback?token=t", scripts: UserData.scriptPaths(for: recipe), checks: recipe.checks)
        let userData = try UserData.generate(for: recipe, plan: plan)
        #expect(userData.hasPrefix("#cloud-config\n") && userData.contains(plan.markerLine))
        for package in recipe.packages { #expect(userData.contains("- \(package)\n")) }
        try await withTemporaryDirectory { directory in
            let file = directory.appendingPathComponent("user-data")
            try userData.write(to: file, atomically: true, encoding: .utf8)
            let result = try await runProgram(tool, ["schema", "-c", file.path])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("Valid cloud-config"))
            // The checker is not a rubber stamp: a wrong power_state mode is refused.
            try userData.replacingOccurrences(of: "mode: poweroff", with: "mode: sleep").write(to: file, atomically: true, encoding: .utf8)
            #expect(try await runProgram(tool, ["schema", "-c", file.path]).status != 0)
        }
    }

    @Test("the Windows sample's user data is a cloudbase-init PowerShell script installing each package through Chocolatey, then reporting")
    func windowsUserData() throws {
        let recipe = try sample("digital-design-windows.yaml")
        let plan = BuildPlan(callback: "http://127.0.0.1:8080/cb", scripts: UserData.scriptPaths(for: recipe), checks: recipe.checks)
        let script = try UserData.generate(for: recipe, plan: plan)
        #expect(script.hasPrefix("#ps1_sysnative\n") && script.contains(plan.markerLine))
        for package in recipe.packages { #expect(script.contains("choco install -y --no-progress \(package)\n")) }
        #expect(script.contains("Invoke-RestMethod -Method Post -Uri $plan.callback") && script.contains("Stop-Computer -Force"))
        let decoded = try JSONDecoder().decode(BuildPlan.self, from: try #require(Data(base64Encoded: plan.encoded)))
        #expect(decoded == plan)
    }

    /// Parses `text` and returns the error's field and line.
    func failure(_ text: String) -> (field: String?, line: Int?) {
        do {
            _ = try Recipe.parse(text, file: "bad.yaml")
            return (nil, nil)
        } catch let error as BuilderError {
            return (error.field, error.line)
        } catch {
            return ("not a BuilderError: \(error)", nil)
        }
    }

    static let minimal = """
        name: lab
        os: linux
        base:
          template: ubuntu-22.04
        build:
          offering: Small Instance
        output:
          osType: Ubuntu 22.04 LTS
        """

    @Test("a bad recipe is refused with the line and field named")
    func errorsNameLineAndField() throws {
        #expect(try Recipe.parse(Self.minimal).version == .date)
        #expect(failure(Self.minimal + "\npackagez: [yosys]") == ("packagez", 9))
        #expect(failure(Self.minimal + "\npackages:\n  - yosys\n  - \"rm -rf /\"") == ("packages[1]", 11))
        #expect(
            failure(Self.minimal.replacingOccurrences(of: "  offering: Small Instance", with: "  offering: Small Instance\n  diskGiB: 0")) == (
                "build.diskGiB", 7
            ))
        #expect(failure(Self.minimal.replacingOccurrences(of: "  offering: Small Instance", with: "  zone: Zone1")) == ("build.offering", 6))
        #expect(failure(Self.minimal.replacingOccurrences(of: "os: linux", with: "os: beos")) == ("os", 2))
        #expect(failure(Self.minimal + "\npowershell: Get-Date") == ("powershell", 9))
        #expect(failure(Self.minimal + "\nfiles:\n  - path: ../etc/passwd\n    content: x") == ("files[0].path", 10))
        #expect(failure(Self.minimal + "\nversion: {field: release}") == ("version.field", 9))
        #expect(failure(Self.minimal + "\ncloudInit:\n  power_state: {mode: reboot}") == ("cloudInit.power_state", 10))
        #expect(failure(Self.minimal + "\nchecks:\n  - name: a\n    run: x\n  - name: a\n    run: y") == ("checks[1].name", 12))
        #expect(failure(Self.minimal + "\nschedule: {every: monthly, day: 31}") == ("schedule.day", 9))
        #expect(failure("name: [unclosed").field == "recipe")
        #expect(failure(Self.minimal.replacingOccurrences(of: "base:\n  template: ubuntu-22.04\n", with: "")).field == "base")
    }

    @Test("versions: by date (a second build that day gets .2), by counter, or from a metadata field never reused")
    func versionRules() throws {
        let day = Date(timeIntervalSince1970: 1_796_256_000)  // 2026-12-03
        #expect(try VersionRule.date.next(existing: [], now: day, metadata: [:]) == "2026.12.03")
        #expect(try VersionRule.date.next(existing: ["2026.12.03", "2026.12.03.2"], now: day, metadata: [:]) == "2026.12.03.3")
        #expect(try VersionRule.counter.next(existing: ["1", "2", "2026.01.01", "7"], now: day, metadata: [:]) == "8")
        #expect(try VersionRule.counter.next(existing: [], now: day, metadata: [:]) == "1")
        #expect(try VersionRule.field("release").next(existing: ["24.1"], now: day, metadata: ["release": "24.2"]) == "24.2")
        #expect(throws: BuilderError.conflict("")) {
            try VersionRule.field("release").next(existing: ["24.2"], now: day, metadata: ["release": "24.2"])
        }
    }

    @Test("rebuild schedules: the next time strictly after now, daily, weekly on a weekday, monthly on a day")
    func schedules() {
        func at(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }
        let now = at("2026-12-03T10:00:00Z")  // a Thursday
        #expect(RebuildSchedule(every: .daily, minute: 9 * 60).next(after: now) == at("2026-12-04T09:00:00Z"))
        #expect(RebuildSchedule(every: .daily, minute: 11 * 60).next(after: now) == at("2026-12-03T11:00:00Z"))
        #expect(RebuildSchedule(every: .weekly, day: 1, minute: 0).next(after: now) == at("2026-12-07T00:00:00Z"))
        #expect(RebuildSchedule(every: .monthly, day: 1, minute: 120).next(after: now) == at("2027-01-01T02:00:00Z"))
        #expect(RebuildSchedule(every: .monthly, day: 3, minute: 600).next(after: now) == at("2027-01-03T10:00:00Z"))
    }
}
