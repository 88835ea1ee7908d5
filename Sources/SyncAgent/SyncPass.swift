import Core
import Foundation
import Logging
import Synchronization
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
        // The manifest of each kept version whose image is here and verified, by `name@version`.
        var manifests: [String: TemplateManifest] = [:]
        // Every kept version's manifest that could be read, whether its image could be made or not.
        var keptManifests: [TemplateManifest] = []
        for entry in kept {
            let key = "\(entry.name)@\(entry.version)"
            var outcome = Outcome(template: entry.name, version: entry.version, state: "fetching", bytesDownloaded: 0, bytesReused: 0)
            let downloaded = DownloadedBytes()
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
                } else if try images.linkIdentical(manifest) {
                    outcome.bytesReused = manifest.size
                } else {
                    let report = try await fetcher.fetchImage(manifest) { downloaded.set($0) }
                    outcome.bytesReused = report.reusedBytes
                }
                manifests[key] = manifest
                images.touch([file])
                outcome.state = "verified"
            } catch {
                outcome.state = "failed"
                outcome.error = "\(error)"
                logger.error("template not fetched", metadata: ["template": "\(entry.name)", "version": "\(entry.version)", "error": "\(error)"])
            }
            // What came over the network, also when the fetch failed later (its verified chunks are kept).
            outcome.bytesDownloaded = downloaded.value
            outcomes[key] = outcome
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

        let wanted = kept.compactMap { entry -> RolloutPlanner.Wanted? in
            manifests["\(entry.name)@\(entry.version)"].map { RolloutPlanner.Wanted(template: entry.name, version: entry.version, digest: $0.sha256) }
        }
        let failures = try await converge(wanted: wanted, manifests: manifests, outcomes: &outcomes)

        // Final state per version: CloudStack's, from the copy each version keeps.
        let installed = try await registrar.installed()
        for w in wanted {
            let key = "\(w.template)@\(w.version)"
            guard let copy = installed.filter(w.isRegistered(as:)).sorted(by: RolloutPlanner.Installed.isBetter).first else {
                if let failure = failures[w] {
                    outcomes[key]?.state = "failed"
                    outcomes[key]?.error = SyncAgentError.registrationFailed(key, failure).description
                }
                continue
            }
            switch copy.state {
            case .ready: outcomes[key]?.state = copy.featured ? "ready, featured" : "ready"
            case .inProgress: outcomes[key]?.state = "registering"
            case .failed:
                outcomes[key]?.state = "failed"
                outcomes[key]?.error = SyncAgentError.registrationFailed(key, copy.failure ?? "the download in CloudStack failed").description
            }
        }
        return kept.compactMap { outcomes["\($0.name)@\($0.version)"] }
    }

    /// Converges CloudStack on `wanted`: plan, act, wait for registrations, plan again until nothing is left
    /// to do. A registration that fails in this pass is removed (CloudStack's words are returned, per
    /// version); its image is checked first, and one that no longer verifies is fetched again where it is
    /// damaged and registered once more in this pass — else the next pass retries.
    func converge(
        wanted: [RolloutPlanner.Wanted], manifests: [String: TemplateManifest], outcomes: inout [String: Outcome]
    ) async throws -> [RolloutPlanner.Wanted: String] {
        let planner = RolloutPlanner(keepVersions: settings.keepVersions)
        let deadline = ContinuousClock.now + settings.registrationTimeout
        var registrations: [RolloutPlanner.Wanted: Int] = [:]
        var allowed: [RolloutPlanner.Wanted: Int] = [:]
        var checked = Set<RolloutPlanner.Wanted>()
        var failures: [RolloutPlanner.Wanted: String] = [:]
        while true {
            let installed = try await registrar.installed()
            var failedCopies = Set<RolloutPlanner.Wanted>()
            for w in wanted {
                for copy in installed where copy.state == .failed && w.isRegistered(as: copy) {
                    failedCopies.insert(w)
                    if registrations[w] != nil { failures[w] = copy.failure ?? "the download in CloudStack failed" }
                }
            }
            let planned = planner.plan(wanted: wanted, installed: installed)
            // Before a version whose registration failed is registered again, its image is checked.
            for case .register(let w) in planned where failedCopies.contains(w) && checked.insert(w).inserted {
                guard let manifest = manifests["\(w.template)@\(w.version)"] else { continue }
                if try await repairImage(manifest, outcome: &outcomes["\(w.template)@\(w.version)"]) {
                    allowed[w] = registrations[w, default: 0] + 1
                    failures[w] = nil
                }
            }
            let actions = planned.filter {
                if case .keep = $0 { return false }
                if case .register(let w) = $0 { return registrations[w, default: 0] < allowed[w, default: 1] }
                return true
            }
            let waiting = installed.contains { copy in copy.state == .inProgress && wanted.contains { $0.isRegistered(as: copy) } }
            if actions.isEmpty && !waiting { break }
            for action in actions {
                switch action {
                case .register(let w):
                    guard let manifest = manifests["\(w.template)@\(w.version)"] else { continue }
                    _ = try await registrar.register(manifest, url: imageURL(ImageCache.fileName(manifest)))
                    registrations[w, default: 0] += 1
                case .adopt(let id, let w):
                    try await registrar.tag(id, template: w.template, version: w.version, digest: w.digest)
                    logger.info(
                        "adopted a registration an interrupted pass left untagged",
                        metadata: ["template": "\(w.template)", "version": "\(w.version)", "id": "\(id)"])
                case .feature(let id): try await registrar.setFeatured(id, true)
                case .unfeature(let id): try await registrar.setFeatured(id, false)
                case .delete(let id, let template, let version, let reason):
                    try await registrar.delete(id)
                    logger.info("template removed", metadata: ["template": "\(template)", "version": "\(version)", "reason": "\(reason)"])
                case .keep: break
                }
            }
            if ContinuousClock.now > deadline { break }
            try await Task.sleep(for: settings.pollInterval)
        }
        return failures
    }

    /// Checks the image of a version whose registration failed; when chunks of it no longer verify (a
    /// flipped bit on this disk), fetches them again (the intact ones are kept). True when it repaired.
    func repairImage(_ manifest: TemplateManifest, outcome: inout Outcome?) async throws -> Bool {
        let damaged = fetcher.images.damagedChunks(of: manifest)
        guard !damaged.isEmpty else { return false }
        logger.warning(
            "the image does not verify; fetching its damaged chunks again",
            metadata: ["template": "\(manifest.name)", "version": "\(manifest.version)", "chunks": .stringConvertible(damaged.count)])
        try fetcher.images.demote(manifest)
        let downloaded = DownloadedBytes()
        defer { outcome?.bytesDownloaded += downloaded.value }
        try await fetcher.fetchImage(manifest) { downloaded.set($0) }
        return true
    }
}

/// The bytes a fetch has downloaded so far, set by its progress callback (from any task).
final class DownloadedBytes: Sendable {
    private let count = Mutex<Int64>(0)
    var value: Int64 { count.withLock { $0 } }
    func set(_ value: Int64) { count.withLock { $0 = value } }
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
