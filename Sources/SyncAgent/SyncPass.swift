import Core
import Foundation
import Logging
import TemplateRepository

/// One pass of the site agent: read the signed catalog, fetch and verify the subscribed versions' chunks,
/// assemble their images, and converge the local CloudStack on them (register, tag, feature, retire).
/// Every step is idempotent, so a pass after any crash reaches the same end state.
public struct SyncPass: Sendable {
    public struct Settings: Sendable {
        /// Template names or glob patterns (`*`, `?`); `["*"]` takes everything.
        public var subscriptions: [String] = ["*"]
        public var keepVersions: Int = 2
        /// How long a pass waits for CloudStack to finish downloading a registered image.
        public var registrationTimeout: Duration = .seconds(600)
        public var pollInterval: Duration = .milliseconds(500)
        /// The images' disk budget (``ImageCache/trim(budget:keeping:logger:)``): chunks of versions no longer
        /// kept go, least recently used first.
        public var cacheBudgetBytes: Int64?

        public init() {}
    }

    /// What a pass did for one template version.
    public struct Outcome: Sendable, Hashable, Codable {
        public var template: String
        public var version: String
        public var state: String
        public var bytesDownloaded: Int64
        public var bytesReused: Int64
        public var error: String?
    }

    public let reader: CatalogReader
    public let fetcher: ChunkFetcher
    public let registrar: CloudStackRegistrar
    public let settings: Settings
    /// The URL CloudStack fetches an image file from.
    public let imageURL: @Sendable (String) -> String
    let logger: Logger

    public init(
        reader: CatalogReader, fetcher: ChunkFetcher, registrar: CloudStackRegistrar, settings: Settings,
        imageURL: @escaping @Sendable (String) -> String, logger: Logger
    ) {
        self.reader = reader
        self.fetcher = fetcher
        self.registrar = registrar
        self.settings = settings
        self.imageURL = imageURL
        self.logger = logger
    }

    public func run() async throws -> [Outcome] {
        let catalog = try await reader.catalog()
        let subscribed = catalog.entries.filter { entry in settings.subscriptions.contains { Glob.matches($0, entry.name) } }
        var kept: [Catalog.Entry] = []
        for name in Set(subscribed.map(\.name)).sorted() {
            kept += subscribed.filter { $0.name == name }.suffix(settings.keepVersions)
        }
        let images = fetcher.images

        // Verified images for every kept version (a failure is reported, never registered).
        var outcomes: [String: Outcome] = [:]
        var manifests: [String: TemplateManifest] = [:]
        // Every kept version's manifest that could be read, whether its image could be made or not (two
        // versions of the same bytes share one `manifests` entry).
        var keptManifests: [TemplateManifest] = []
        for entry in kept {
            var outcome = Outcome(template: entry.name, version: entry.version, state: "fetching", bytesDownloaded: 0, bytesReused: 0)
            do {
                let manifest = try await reader.manifest(for: entry)
                keptManifests.append(manifest)
                let file = images.path(for: manifest)
                if FileManager.default.fileExists(atPath: file) {
                    // Assembled by an earlier pass; its manifest may be missing if a pass was killed
                    // between the two renames.
                    if !FileManager.default.fileExists(atPath: ImageCache.manifestPath(ofImage: file)) {
                        try images.saveManifest(manifest, forImage: file)
                    }
                } else {
                    let report = try await fetcher.fetchImage(manifest)
                    outcome.bytesDownloaded = report.downloadedBytes
                    outcome.bytesReused = report.reusedBytes
                }
                manifests[manifest.sha256] = manifest
                images.touch([file])
                outcome.state = "verified"
            } catch {
                outcome.state = "failed"
                outcome.error = "\(error)"
                logger.error("template not fetched", metadata: ["template": "\(entry.name)", "version": "\(entry.version)", "error": "\(error)"])
            }
            outcomes["\(entry.name)@\(entry.version)"] = outcome
        }

        // What interrupted passes left and no pass will finish, and the budget — before CloudStack is
        // asked anything, so that neither waits for it (and only when every kept version's manifest was
        // read: else a kept image could look like a retired one).
        if keptManifests.count == kept.count {
            images.removeLeftovers(wanted: Set(keptManifests.map(ImageCache.fileName)))
            fetcher.removePartialChunks(keeping: Set(keptManifests.flatMap { $0.chunks.map(\.digest) }))
            if let budget = settings.cacheBudgetBytes {
                let trimmed = images.trim(budget: budget, keeping: Set(keptManifests.map(images.path(for:))), logger: logger)
                if trimmed.bytes > 0 {
                    logger.info(
                        "image cache trimmed",
                        metadata: [
                            "bytes": .stringConvertible(trimmed.bytes), "chunks": .stringConvertible(trimmed.chunks),
                            "images": .stringConvertible(trimmed.images),
                        ])
                }
            }
        }

        // Converge CloudStack: plan, act, wait for registrations, plan again until nothing is left to do.
        let wanted = kept.compactMap { entry -> RolloutPlanner.Wanted? in
            guard let manifest = manifests.values.first(where: { $0.name == entry.name && $0.version == entry.version }) else { return nil }
            return RolloutPlanner.Wanted(template: entry.name, version: entry.version, digest: manifest.sha256)
        }
        let planner = RolloutPlanner(keepVersions: settings.keepVersions)
        let deadline = ContinuousClock.now + settings.registrationTimeout
        var registeredThisPass = Set<String>()
        while true {
            let installed = try await registrar.installed()
            // What failed after being registered in this pass stays (reported) until the next pass retries it.
            let failedThisPass = Set(installed.filter { $0.state == .failed && registeredThisPass.contains($0.digest) }.map(\.id))
            let actions = planner.plan(wanted: wanted, installed: installed).filter {
                if case .keep = $0 { return false }
                if case .register(let w) = $0, registeredThisPass.contains(w.digest) { return false }
                if case .delete(let id, _, _, _) = $0, failedThisPass.contains(id) { return false }
                return true
            }
            let waiting = installed.contains { copy in copy.state == .inProgress && wanted.contains { $0.digest == copy.digest } }
            if actions.isEmpty && !waiting { break }
            for action in actions {
                switch action {
                case .register(let w):
                    guard let manifest = manifests[w.digest] else { continue }
                    _ = try await registrar.register(manifest, url: imageURL(ImageCache.fileName(manifest)))
                    registeredThisPass.insert(w.digest)
                case .feature(let id): try await registrar.setFeatured(id, true)
                case .unfeature(let id): try await registrar.setFeatured(id, false)
                case .delete(let id, let template, let version, let reason):
                    try await registrar.delete(id)
                    logger.info("template retired", metadata: ["template": "\(template)", "version": "\(version)", "reason": "\(reason)"])
                case .keep: break
                }
            }
            if ContinuousClock.now > deadline { break }
            try await Task.sleep(for: settings.pollInterval)
        }

        // Final state per version, from CloudStack.
        let installed = try await registrar.installed()
        for w in wanted {
            let key = "\(w.template)@\(w.version)"
            guard let copy = installed.first(where: { $0.digest == w.digest }) else { continue }
            switch copy.state {
            case .ready: outcomes[key]?.state = copy.featured ? "ready, featured" : "ready"
            case .inProgress: outcomes[key]?.state = "registering"
            case .failed:
                outcomes[key]?.state = "failed"
                outcomes[key]?.error = SyncAgentError.registrationFailed(key, "the download in CloudStack failed").description
            }
        }
        return kept.compactMap { outcomes["\($0.name)@\($0.version)"] }
    }
}

/// Shell-style globs for subscriptions: `*` any run, `?` one character.
public enum Glob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern)
        let t = Array(text)
        var memo: [Int: Bool] = [:]
        func match(_ i: Int, _ j: Int) -> Bool {
            let key = i * (t.count + 1) + j
            if let known = memo[key] { return known }
            let result: Bool
            if i == p.count {
                result = j == t.count
            } else if p[i] == "*" {
                result = match(i + 1, j) || (j < t.count && match(i, j + 1))
            } else {
                result = j < t.count && (p[i] == "?" || p[i] == t[j]) && match(i + 1, j + 1)
            }
            memo[key] = result
            return result
        }
        return match(0, 0)
    }
}
