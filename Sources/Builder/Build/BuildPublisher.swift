import TemplateRepository

/// Where a build publishes: the repository itself (on the server that runs the build) or anything that
/// publishes like it. A publish either makes the version visible whole or leaves no trace of it.
public protocol BuildPublisher: Sendable {
    /// Every version of `template` ever published, oldest first (withdrawn ones too: versions are never reused).
    func versions(of template: String) async throws -> [String]
    /// The chunk digests and lengths of a published version, for how much a new version shares with it.
    func chunks(of template: String, version: String) async throws -> [ChunkReference]
    /// Chunks and publishes the image at `path` as `metadata.name@metadata.version`.
    func publish(imageAt path: String, metadata: TemplateMetadata, progress: @escaping @Sendable (Int64) -> Void) async throws -> PublishReport
}

extension Repository: BuildPublisher {
    public func versions(of template: String) async throws -> [String] {
        do {
            return try await self.template(template).versions.map(\.version)
        } catch let error as TemplateRepositoryError where error == .notFound(name: template, version: nil) {
            return []
        }
    }

    public func chunks(of template: String, version: String) async throws -> [ChunkReference] {
        try await manifest(name: template, version: version).chunks
    }

    public func publish(imageAt path: String, metadata: TemplateMetadata, progress: @escaping @Sendable (Int64) -> Void) async throws
        -> PublishReport
    {
        try await publish(imageAt: path, metadata: metadata, progress: Optional(progress))
    }
}
