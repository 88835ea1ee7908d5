import ArgumentParser
import Core
import Foundation
import Server
import TemplateRepository

#if canImport(Glibc)
    import Glibc
#endif

/// `mclouds bench publish`: the real `mclouds template publish` against the tools an operator would use.
struct PublishBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish throughput and peak RSS vs sha256sum/openssl, and v2 delta vs fixed 500 MB pieces and casync.",
        discussion: """
            Runs `mclouds template publish` as a child process (so its peak RSS is its own) on synthetic images.

              mclouds bench publish --scratch /dev/shm --size-mib 2048 --delta-mib 1024 \\
                  --rss-mib 10240 --rss-scratch /var/tmp
            """)

    @Option(help: "Throughput image size in MiB.") var sizeMib = 2048
    @Option(help: "Delta image size in MiB (0 skips).") var deltaMib = 1024
    @Option(help: "Size in MiB of the large image whose publish's peak RSS is measured (0 skips).") var rssMib = 0
    @Option(help: "Scratch directory for images and stores (tmpfs keeps the disk out of the throughput figure).")
    var scratch = FileManager.default.temporaryDirectory.path
    @Option(help: "Scratch directory for the large RSS image (default: --scratch).") var rssScratch: String?
    @Option(help: "Repetitions of the timed runs (medians are reported).") var repeats = 3

    func run() async throws {
        let root = URL(fileURLWithPath: scratch).appendingPathComponent("mclouds-bench-publish-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let binary = try Self.executable()

        Console.line("== publish throughput: `mclouds template publish` of a \(sizeMib) MiB image into an empty store (\(scratch))")
        let image = root.appendingPathComponent("image.raw")
        try Synthetic.writeFile(image, bytes: sizeMib << 20, seed: 11)
        try Tools.run("/usr/bin/cat", [image.path])  // into the page cache, as for every tool below
        let gib = Double(sizeMib) / 1024
        let data = root.appendingPathComponent("data").path
        let first = try Self.measure(binary, Self.publishArguments(image.path, data: data, version: "1"))
        // The machine's speed drifts between runs: interleave the tools, repeat, and compare medians. Each
        // further first publish goes into a store emptied just before, as does each `cp`.
        var runs: [String: [Double]] = ["first": [first.seconds]]
        let tools = [
            ("sha256sum", "/usr/bin/sha256sum", [image.path]), ("openssl dgst -sha256", "/usr/bin/openssl", ["dgst", "-sha256", image.path]),
        ].filter { FileManager.default.isExecutableFile(atPath: $0.1) }
        let fresh = root.appendingPathComponent("fresh")
        let copy = root.appendingPathComponent("copy.raw")
        for round in 0..<repeats {
            if round > 0 {
                try? FileManager.default.removeItem(at: fresh)
                runs["first", default: []].append(try Self.measure(binary, Self.publishArguments(image.path, data: fresh.path, version: "1")).seconds)
                try? FileManager.default.removeItem(at: fresh)
            }
            runs["again", default: []].append(try Self.measure(binary, Self.publishArguments(image.path, data: data, version: "1")).seconds)
            runs["other", default: []].append(try Self.measure(binary, Self.publishArguments(image.path, data: data, version: "2")).seconds)
            for (name, path, arguments) in tools { runs[name, default: []].append(try Self.measure(path, arguments).seconds) }
            // What writing the image's bytes into the same filesystem costs by itself (a first publish must).
            runs["cp", default: []].append(try Self.measure("/usr/bin/cp", [image.path, copy.path]).seconds)
            try? FileManager.default.removeItem(at: copy)
        }
        let firstMedian = Self.median(runs["first"]!)
        let again = Self.median(runs["again"]!)
        let other = Self.median(runs["other"]!)
        Console.line(
            String(
                format: "first publish (all chunks new):   %6.2f s  %.2f GiB/s  peak RSS %d MiB  (median of %d)", firstMedian, gib / firstMedian,
                first.peakMiB, repeats))
        Console.line(String(format: "publish again (nothing new):      %6.2f s  %.2f GiB/s  (median of %d)", again, gib / again, repeats))
        Console.line(String(format: "same image as a new version:      %6.2f s  %.2f GiB/s  (median of %d)", other, gib / other, repeats))
        for (name, _, _) in tools {
            let t = Self.median(runs[name]!)
            Console.line(
                String(
                    format: "%-33@ %6.2f s  %.2f GiB/s   ratios mclouds/%@: first %.2f, again %.2f", "\(name):" as NSString, t, gib / t,
                    name as NSString, t / firstMedian, t / again))
        }
        let cp = Self.median(runs["cp"]!)
        Console.line(String(format: "cp of the image (write floor):     %6.2f s  %.2f GiB/s  (median of %d)", cp, gib / cp, repeats))
        Console.line("first publish, each run (s): " + runs["first"]!.map { String(format: "%.2f", $0) }.joined(separator: " "))
        try? FileManager.default.removeItem(at: root.appendingPathComponent("data"))
        try? FileManager.default.removeItem(at: image)

        if rssMib > 0 {
            let rssRoot = URL(fileURLWithPath: rssScratch ?? scratch).appendingPathComponent("mclouds-bench-rss-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: rssRoot, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: rssRoot) }
            Console.line("\n== peak RSS: publish of a \(rssMib) MiB image (\(rssRoot.deletingLastPathComponent().path))")
            let big = rssRoot.appendingPathComponent("big.raw")
            try Synthetic.writeFile(big, bytes: rssMib << 20, seed: 13)
            let result = try Self.measure(binary, Self.publishArguments(big.path, data: rssRoot.appendingPathComponent("data").path, version: "1"))
            Console.line(
                String(
                    format: "mclouds template publish:  %6.2f s  %.2f GiB/s  peak RSS %d MiB", result.seconds, Double(rssMib) / 1024 / result.seconds,
                    result.peakMiB))
        }

        if deltaMib > 0 { try delta(root: root, binary: binary) }
    }

    /// v2 = v1 with 1/5/20 % of bytes changed in ~100 regions plus 10 shifting insertions: bytes newly stored.
    private func delta(root: URL, binary: String) throws {
        Console.line("\n== delta: bytes newly stored for v2 as a share of its size (\(deltaMib) MiB; 100 scattered regions + 10 insertions of 4 KiB)")
        Console.line("change  mclouds (16K/128K/512K)  fixed 500 MB pieces  casync make (16K/128K/512K)")
        let casync = ["/usr/bin/casync", "/usr/local/bin/casync"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let v1 = Synthetic.image(bytes: deltaMib << 20, seed: 1)
        let v1File = root.appendingPathComponent("v1.raw")
        try Data(v1).write(to: v1File)
        for percent in [1, 5, 20] {
            let v2 = Synthetic.edit(v1, changedPercent: percent, regions: 100, insertions: 10, seed: UInt64(percent))
            let v2File = root.appendingPathComponent("v2.raw")
            try Data(v2).write(to: v2File)
            let data = root.appendingPathComponent("delta-data-\(percent)").path
            _ = try Self.measure(binary, Self.publishArguments(v1File.path, data: data, version: "1"))
            let report = try Self.publishReport(binary, Self.publishArguments(v2File.path, data: data, version: "2"))
            let ours = Double(report.newBytes) / Double(report.size) * 100
            let fixed = Synthetic.fixedPieceDelta(v1, v2, piece: 500_000_000).share * 100
            var casyncShare = "not installed"
            if let casync {
                let store = root.appendingPathComponent("castr-\(percent)")
                let arguments = ["--chunk-size=16384:131072:524288", "--store=\(store.path)", "--compression=zstd"]
                try Tools.run(casync, ["make"] + arguments + [root.appendingPathComponent("v1.caibx").path, v1File.path])
                let before = Self.directoryBytes(store)
                try Tools.run(casync, ["make"] + arguments + [root.appendingPathComponent("v2.caibx").path, v2File.path])
                casyncShare = String(format: "%.2f %% (compressed)", Double(Self.directoryBytes(store) - before) / Double(v2.count) * 100)
                try? FileManager.default.removeItem(at: store)
            }
            Console.line(String(format: "%5d%%  %22.2f %%  %18.2f %%  %@", percent, ours, fixed, casyncShare as NSString))
            try? FileManager.default.removeItem(atPath: data)
        }
    }

    static func publishArguments(_ image: String, data: String, version: String) -> [String] {
        [
            "template", "publish", image, "--name", "bench", "--version", version, "--format", "RAW", "--hypervisor", "KVM", "--os-type",
            "Other Linux (64-bit)", "--data", data, "--json", "--log-level", "warning",
        ]
    }

    static func publishReport(_ binary: String, _ arguments: [String]) throws -> PublishReport {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return try JSONDecoder().decode(PublishReport.self, from: data)
    }

    /// Wall time and peak RSS of a child process. The child runs under `/usr/bin/time` when present: a
    /// child spawned straight from this process would count this process's memory at spawn as its own.
    static func measure(_ path: String, _ arguments: [String]) throws -> (seconds: Double, peakMiB: Int) {
        let timeTool = "/usr/bin/time"
        guard FileManager.default.isExecutableFile(atPath: timeTool) else { return try spawn(path, arguments) }
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("mclouds-rss-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        let seconds = try spawn(timeTool, ["-f", "%M", "-o", report, path] + arguments).seconds
        let kib = Int((try? String(contentsOfFile: report, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        return (seconds, kib / 1024)
    }

    /// Wall time and peak RSS (from `wait4`) of a child process.
    static func spawn(_ path: String, _ arguments: [String]) throws -> (seconds: Double, peakMiB: Int) {
        var pid: pid_t = 0
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let start = ContinuousClock.now
        guard posix_spawn(&pid, path, &actions, nil, argv, environ) == 0 else { throw CLIError("Cannot run \(path).") }
        var status: Int32 = 0
        var usage = rusage()
        wait4(pid, &status, 0, &usage)
        let elapsed = ContinuousClock.now - start
        guard status == 0 else { throw CLIError("\(path) \(arguments.joined(separator: " ")) failed with status \(status).") }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (seconds, Int(usage.ru_maxrss) / 1024)
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    static func directoryBytes(_ url: URL) -> Int64 {
        var total: Int64 = 0
        let enumerator = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.fileSizeKey])
        while let file = enumerator?.nextObject() as? URL {
            total += Int64((try? file.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0)
        }
        return total
    }

    static func executable() throws -> String {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return path
    }
}
