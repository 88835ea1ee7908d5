import Core

extension SiteTemplateState {
    /// The states a site agent reports for a version.
    public static let knownStates: Set<String> = ["fetching", "verified", "registering", "ready", "ready, featured", "failed"]

    /// The largest byte count a report may carry (1 PiB): anything above is junk, not a template.
    static let maximumBytes: Int64 = 1 << 50

    /// Checks the fields of one reported state (pure): known state, sane byte counts, names that are template
    /// names, an error text of at most 4 KiB, and no control characters anywhere (they would reach terminals).
    /// - Throws: ``TemplateRepositoryError`` `malformed`, naming the entry and field.
    public func validate(index: Int) throws {
        func bad(_ reason: String) -> TemplateRepositoryError {
            .malformed(document: "site report entry \(index + 1) (\(Console.escaped(template))@\(Console.escaped(version)))", reason: reason)
        }
        guard TemplateName.isValid(template) else { throw bad("the template name is not a template name") }
        guard TemplateName.isValid(version) else { throw bad("the version is not a version name") }
        guard Self.knownStates.contains(state) else {
            throw bad("state \"\(Console.escaped(state))\" is not one of \(Self.knownStates.sorted().joined(separator: ", "))")
        }
        for (field, value) in [("bytesDownloaded", bytesDownloaded), ("bytesReused", bytesReused)] where !(0...Self.maximumBytes).contains(value) {
            throw bad("\(field) \(value) is not between 0 and 1 PiB")
        }
        if let error {
            guard error.utf8.count <= 4096 else { throw bad("the error text is longer than 4 KiB") }
            guard !error.unicodeScalars.contains(where: Console.isControl) else { throw bad("the error text holds control characters") }
        }
    }
}
