import ArgumentParser
import Core
import Foundation
import Logging
import Server
import SyncAgent
import TemplateRepository

/// `mclouds bench sync`: the site agent's download (fetch, verify, assemble) against curl fetching the
/// same chunks from the same server, and the bytes a 5 % v2 moves.
struct SyncBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Site agent sync of a template over loopback vs curl of the same bytes; bytes moved for a 5 % v2.",
        discussion: """
            Publishes a synthetic image into a repository in --scratch, serves it with the mClouds server on loopback, and times
            the agent's fetch + verify + assemble against `curl --parallel` downloading the same chunk URLs (medians, interleaved).
              mclouds bench sync --scratch /dev/shm --size-mib 2048 --delta-mib 1024
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Template size in MiB.") var sizeMib = 2048
    @Option(help: "Size in MiB of the v1/v2 pair for the delta (0 skips).") var deltaMib = 1024
    @Option(help: "Scratch directory (tmpfs keeps the disk out of the figure).") var scratch = FileManager.default.temporaryDirectory.path
    @Option(help: "Parallel downloads, for the agent and for curl.") var parallel = 8
    @Option(help: "Repetitions (medians are reported).") var repeats = 3
    @Option(help: "Also time a sync under this bandwidth limit in Mbit/s (0 skips).") var limitMbit = 800.0

    func run() async throws {
        var logger = global.makeLogger(label: "mclouds.bench")
        logger.logLevel = .warning
        let root = URL(fileURLWithPath: scratch).appendingPathComponent("mclouds-bench-sync-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let repository = try await DataDirectory(root.appendingPathComponent("central").path).openRepository(logger: logger)
        let image = root.appendingPathComponent("image.raw")
        try Synthetic.writeFile(image, bytes: sizeMib << 20, seed: 21)
        _ = try await repository.publish(imageAt: image.path, metadata: Self.metadata(version: "1"))
        try FileManager.default.removeItem(at: image)

        try await MCloudsServer.withRunning(.init(port: 0), repository: repository, logger: logger) { server in
            let trusted = [repository.key.publicKey]
            let manifest = try await repository.manifest(name: "bench", version: "1")
            Console.line(
                "== sync of a \(sizeMib) MiB template (\(manifest.chunks.count) chunks) over loopback, \(parallel) parallel, into \(scratch)")
            var runs: [String: [Double]] = [:]
            let curl = ["/usr/bin/curl", "/bin/curl"].first { FileManager.default.isExecutableFile(atPath: $0) }
            for round in 0..<repeats {
                let site = root.appendingPathComponent("site-\(round)")
                runs["agent", default: []].append(
                    try await Tools.timeAsync {
                        _ = try await Self.sync(
                            manifest: manifest, server: server.baseURL, trusted: trusted, site: site, parallel: parallel, limit: nil, logger: logger)
                    })
                try? FileManager.default.removeItem(at: site)
                if let curl {
                    let (download, assemble) = try Self.curlChunks(curl, manifest: manifest, server: server.baseURL, root: root, parallel: parallel)
                    runs["curl", default: []].append(download)
                    runs["curl+", default: []].append(download + assemble)
                }
            }
            let gib = Double(sizeMib) / 1024
            let agent = PublishBench.median(runs["agent"]!)
            Console.line(String(format: "agent (fetch + verify each chunk + assemble + verify image):  %6.2f s  %.2f GiB/s", agent, gib / agent))
            if let times = runs["curl"] {
                let c = PublishBench.median(times)
                Console.line(String(format: "curl --parallel (same chunk URLs, to files, no checks):      %6.2f s  %.2f GiB/s", c, gib / c))
                Console.line(String(format: "ratio curl time / agent time: %.2f (median of %d)", c / agent, repeats))
                let whole = PublishBench.median(runs["curl+"]!)
                Console.line(
                    String(
                        format: "for context — curl, then cat into the image and sha256sum it (a usable, checked image): %.2f s; ratio %.2f", whole,
                        whole / agent))
            } else {
                Console.line("curl not found: no comparison")
            }
            if limitMbit > 0 {
                // A template of its own (at most 256 MiB), so the limited run does not take minutes.
                let limitedMiB = min(sizeMib, 256)
                let file = root.appendingPathComponent("limited.raw")
                try Synthetic.writeFile(file, bytes: limitedMiB << 20, seed: 22)
                _ = try await repository.publish(imageAt: file.path, metadata: Self.metadata(version: "limited"))
                try FileManager.default.removeItem(at: file)
                let limited = try await repository.manifest(name: "bench", version: "limited")
                let site = root.appendingPathComponent("site-limited")
                let seconds = try await Tools.timeAsync {
                    _ = try await Self.sync(
                        manifest: limited, server: server.baseURL, trusted: trusted, site: site, parallel: parallel,
                        limit: limitMbit * 1_000_000 / 8, logger: logger)
                }
                try? FileManager.default.removeItem(at: site)
                Console.line(
                    String(
                        format: "bandwidth limit %.0f Mbit/s: %d MiB fetched at %.0f Mbit/s", limitMbit, limitedMiB,
                        Double(limited.size) * 8 / 1_000_000 / seconds))
            }
        }
        if deltaMib > 0 { try await delta(root: root, logger: logger) }
    }

    /// v1 synced, then v2 = v1 with 5 % of bytes changed in 100 regions plus 10 insertions: bytes moved.
    private func delta(root: URL, logger: Logger) async throws {
        let repository = try await DataDirectory(root.appendingPathComponent("delta-central").path).openRepository(logger: logger)
        let v1 = Synthetic.image(bytes: deltaMib << 20, seed: 1)
        let v2 = Synthetic.edit(v1, changedPercent: 5, regions: 100, insertions: 10, seed: 5)
        for (version, bytes) in [("1", v1), ("2", v2)] {
            let file = root.appendingPathComponent("v\(version).raw")
            try Data(bytes).write(to: file)
            _ = try await repository.publish(imageAt: file.path, metadata: Self.metadata(version: version))
            try FileManager.default.removeItem(at: file)
        }
        try await MCloudsServer.withRunning(.init(port: 0), repository: repository, logger: logger) { server in
            let site = root.appendingPathComponent("delta-site")
            var reports: [ChunkFetcher.Report] = []
            for version in ["1", "2"] {
                let manifest = try await repository.manifest(name: "bench", version: version)
                reports.append(
                    try await Self.sync(
                        manifest: manifest, server: server.baseURL, trusted: [repository.key.publicKey], site: site, parallel: parallel, limit: nil,
                        logger: logger))
            }
            let moved = Double(reports[1].downloadedBytes) / Double(v2.count) * 100
            let fixed = Synthetic.fixedPieceDelta(v1, v2, piece: 500_000_000).share * 100
            Console.line("\n== delta: v2 = v1 (\(deltaMib) MiB) with 5 % changed in 100 regions + 10 insertions of 4 KiB")
            Console.line(
                String(
                    format: "agent moved %@ of %@ for v2: %.2f %% (%d chunks fetched, %d reused); fixed 500 MB pieces: %.2f %%",
                    ByteCount.format(reports[1].downloadedBytes) as NSString, ByteCount.format(Int64(v2.count)) as NSString, moved,
                    reports[1].downloadedChunks, reports[1].reusedChunks, fixed))
        }
    }

    /// What the agent does for a new version before registering it: fetch the missing chunks (verified),
    /// assemble the image and check its signed digest.
    static func sync(
        manifest: TemplateManifest, server: String, trusted: [TrustedKey], site: URL, parallel: Int, limit: Double?, logger: Logger
    ) async throws -> ChunkFetcher.Report {
        var policy = ChunkFetcher.Policy()
        policy.parallel = parallel
        policy.bandwidthLimit = limit
        let fetcher = ChunkFetcher(
            mirrors: [server], images: try ImageCache(directory: site.appendingPathComponent("images")),
            partialDirectory: site.appendingPathComponent("partial"), policy: policy, logger: logger)
        return try await fetcher.fetchImage(manifest)
    }

    /// curl fetching every chunk URL of the manifest into files, `parallel` at a time, in one process; then
    /// the time an operator's script would add to get a checked image (`cat` in order, `sha256sum`).
    static func curlChunks(_ curl: String, manifest: TemplateManifest, server: String, root: URL, parallel: Int) throws -> (
        download: Double, assemble: Double
    ) {
        let out = root.appendingPathComponent("curl-out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        let config = root.appendingPathComponent("curl.config")
        let lines = manifest.chunks.enumerated().map { i, c in "url = \"\(server)/api/v1/chunks/\(c.digest)\"\noutput = \"\(out.path)/\(i)\"" }
        try lines.joined(separator: "\n").write(to: config, atomically: true, encoding: .utf8)
        let download = try PublishBench.measure(
            curl, ["--parallel", "--parallel-max", String(parallel), "--no-progress-meter", "-f", "-K", config.path]
        ).seconds
        let image = root.appendingPathComponent("curl-image").path
        defer { try? FileManager.default.removeItem(atPath: image) }
        let script = "cd '\(out.path)' && seq 0 \(manifest.chunks.count - 1) | xargs cat > '\(image)' && sha256sum '\(image)'"
        let assemble = try PublishBench.measure("/bin/sh", ["-c", script]).seconds
        return (download, assemble)
    }

    static func metadata(version: String) -> TemplateMetadata {
        TemplateMetadata(name: "bench", version: version, format: .raw, hypervisor: .kvm, osType: "Other Linux (64-bit)")
    }
}
