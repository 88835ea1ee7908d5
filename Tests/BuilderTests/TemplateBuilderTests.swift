import Builder
import CloudStack
import CloudStackSimulator
import Core
import Crypto
import Foundation
import TemplateRepository
import TestSupport
import Testing

@Suite("Template builder against a simulated region")
struct TemplateBuilderTests {
    @Test("builds a recipe: the guest reports its checks, the image is published with the recipe's digest and checks, nothing is left behind")
    func builds() async throws {
        try await withBuildRig { rig in
            let recipe = try testRecipe()
            let report = await rig.builder().build(recipe, requestedBy: "admin")
            #expect(report.state == .succeeded, "\(report.error ?? "")")
            #expect(report.failedStep == nil && report.version == "1" && report.leftovers.isEmpty)
            #expect(report.checks.map(\.name) == ["yosys", "iverilog"] && report.checks.allSatisfy { $0.exitCode == 0 })
            let manifest = try await rig.repository.manifest(name: "eda-test", version: "1")
            #expect(manifest.build?.recipeDigest == recipe.digest && manifest.build?.checks == report.checks)
            #expect(manifest.build?.base == "cloudstack:\(builtinBase)" && manifest.build?.region == "Build-Region")
            #expect(manifest.software == recipe.packages && manifest.size == report.imageSize)
            #expect(try await rig.leftovers().isEmpty)
            // The build log tells the story, step by step.
            let log = try await rig.store.log(report.id)
            let steps = Set(log.compactMap(\.step))
            #expect(steps.isSuperset(of: [.resolve, .deploy, .provision, .checks, .stop, .createTemplate, .extract, .download, .publish]))
            #expect(log.contains { $0.text.contains("check yosys (yosys -V): exit 0") })
            #expect(try await rig.store.report(report.id) == report)
        }
    }

    @Test("rebuilding with one package changed publishes a version that shares most of its chunks with the previous one")
    func rebuildSharesChunks() async throws {
        try await withBuildRig { rig in
            let first = await rig.builder().build(try testRecipe(), requestedBy: "admin")
            #expect(first.state == .succeeded, "\(first.error ?? "")")
            var packages = try testRecipe().packages
            packages[packages.firstIndex(of: "magic")!] = "netgen"
            let second = await rig.builder().build(try testRecipe(packages: packages), requestedBy: "admin")
            #expect(second.state == .succeeded, "\(second.error ?? "")")
            #expect(second.version == "2" && second.previousVersion == "1")
            let shared = try #require(second.sharedWithPrevious)
            print(
                String(
                    format: "rebuild with one package changed: %@ in %d chunks, %d new (%@), %.1f %% of the bytes in chunks shared with v1",
                    "\(second.imageSize ?? 0) bytes", second.chunks ?? 0, second.newChunks ?? 0, "\(second.newBytes ?? 0) bytes", shared * 100))
            #expect(shared > 0.8)
            #expect((second.newBytes ?? .max) < (second.imageSize ?? 0) / 5)
        }
    }

    @Test("a download cut off midway resumes with a Range request and is verified against the size CloudStack reports")
    func resumesDownload() async throws {
        var faults = FaultConfiguration()
        faults.extractInterruptAfterBytes = 300_000
        try await withBuildRig(faults: faults) { rig in
            let report = await rig.builder().build(try testRecipe(), requestedBy: "admin")
            #expect(report.state == .succeeded, "\(report.error ?? "")")
            #expect(try await rig.leftovers().isEmpty)
        }
    }

    /// Runs a build with a fault and checks the report names `step` and nothing of the build is left.
    func expectFailure(
        at step: BuildStep, faults: FaultConfiguration = .init(), publisher: (@Sendable (BuildRig) -> any BuildPublisher)? = nil,
        recipe: Recipe? = nil, configure: @escaping (inout TemplateBuilder.Configuration) -> Void = { _ in }
    ) async throws {
        try await withBuildRig(faults: faults) { rig in
            let report = await rig.builder(publisher: publisher?(rig), configure: configure).build(try recipe ?? testRecipe(), requestedBy: "admin")
            #expect(report.state == .failed)
            #expect(report.failedStep == step, "\(report.error ?? "")")
            #expect(report.leftovers.isEmpty)
            #expect(try await rig.leftovers().isEmpty)
            #expect(try await rig.repository.templates().isEmpty)
            #expect(try await rig.store.report(report.id).failedStep == step)
            #expect(!FileManager.default.fileExists(atPath: rig.directory.appendingPathComponent("work/\(report.id).qcow2").path))
        }
    }

    @Test("deploy fails: reported as the deploy step; no VM, template or version left")
    func deployFails() async throws {
        var faults = FaultConfiguration()
        faults.errorRate = ["deployVirtualMachine": 1]
        try await expectFailure(at: .deploy, faults: faults)
    }

    @Test("the guest never finishes: the provisioning deadline ends the build; the VM is removed")
    func provisioningTimeout() async throws {
        var faults = FaultConfiguration()
        faults.guestHangs = true
        try await expectFailure(at: .provision, faults: faults, recipe: try testRecipe().with { $0.build.timeoutMinutes = 2 })
    }

    @Test("a check fails inside the VM: reported as the checks step, with the check named")
    func checkFails() async throws {
        var faults = FaultConfiguration()
        faults.failingChecks = ["iverilog"]
        try await expectFailure(at: .checks, faults: faults)
    }

    @Test("createTemplate fails: reported as its step; the stopped VM is removed")
    func createTemplateFails() async throws {
        var faults = FaultConfiguration()
        faults.errorRate = ["createTemplate": 1]
        try await expectFailure(at: .createTemplate, faults: faults)
    }

    @Test("extractTemplate fails: reported as the extract step; the temporary template is removed")
    func extractFails() async throws {
        var faults = FaultConfiguration()
        faults.errorRate = ["extractTemplate": 1]
        try await expectFailure(at: .extract, faults: faults)
    }

    @Test("secondary storage refuses the download: reported as the download step; the partial file is removed")
    func downloadFails() async throws {
        var faults = FaultConfiguration()
        faults.extractFails = true
        try await expectFailure(at: .download, faults: faults, configure: { $0.download.attempts = 2 })
    }

    @Test("the repository refuses the version: reported as the publish step; no version is half-published")
    func publishFails() async throws {
        try await expectFailure(at: .publish, publisher: { rig in RefusingRepository(repository: rig.repository) })
    }
}

extension Recipe {
    func with(_ change: (inout Recipe) -> Void) -> Recipe {
        var copy = self
        change(&copy)
        return copy
    }
}

/// A repository whose disk fills up halfway through storing a version's chunks: the publish fails after
/// writing some of them, as an interrupted one does.
struct RefusingRepository: BuildPublisher {
    let repository: Repository
    struct DiskFull: Error, CustomStringConvertible { var description: String { "no space left on device" } }

    func versions(of template: String) async throws -> [String] { try await repository.versions(of: template) }
    func chunks(of template: String, version: String) async throws -> [ChunkReference] {
        try await repository.chunks(of: template, version: version)
    }
    func publish(imageAt path: String, metadata: TemplateMetadata, progress: @escaping @Sendable (Int64) -> Void) async throws -> PublishReport {
        // The first half of the image goes into the chunk store in 64 KiB pieces, then the disk is "full".
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for start in stride(from: 0, to: data.count / 2, by: 65_536) {
            let piece = Array(data[start..<min(start + 65_536, data.count / 2)])
            let digest = Array(SHA256.hash(data: piece)).hexString
            _ = try piece.withUnsafeBytes { try repository.chunks.put(digest, $0) }
        }
        throw DiskFull()
    }
}
