import Logging

/// What the mClouds log handlers share: metadata set on the handler, from its provider and on the event, merged
/// (the event's wins), and the handler's metadata subscript.
protocol LineLogHandler: LogHandler {}

extension LineLogHandler {
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The handler's metadata, then its provider's, then the event's.
    func mergedMetadata(_ event: LogEvent) -> Logger.Metadata {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        return merged
    }
}
