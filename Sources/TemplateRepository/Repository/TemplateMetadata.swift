import Core
import Foundation

/// What a publisher says about a template version; the repository adds the image's size, digest and chunks.
public struct TemplateMetadata: Codable, Sendable, Hashable {
    public var name: String
    public var version: String
    public var format: ImageFormat
    public var hypervisor: Hypervisor
    public var osType: String
    public var displayText: String
    public var software: [String]
    public var minimumCPUs: Int?
    public var minimumMemoryMB: Int?
    /// Optional end of support (`yyyy-MM-dd'T'HH:mm:ssZ`).
    public var expires: String?
    /// The recipe build that made the image, if one did.
    public var build: BuildProvenance?

    public init(
        name: String, version: String, format: ImageFormat, hypervisor: Hypervisor, osType: String, displayText: String? = nil,
        software: [String] = [], minimumCPUs: Int? = nil, minimumMemoryMB: Int? = nil, expires: String? = nil, build: BuildProvenance? = nil
    ) {
        self.name = name
        self.version = version
        self.format = format
        self.hypervisor = hypervisor
        self.osType = osType
        self.displayText = displayText ?? "\(name) \(version)"
        self.software = software
        self.minimumCPUs = minimumCPUs
        self.minimumMemoryMB = minimumMemoryMB
        self.expires = expires
        self.build = build
    }

    /// Checks names, version, OS type and limits.
    /// - Throws: ``TemplateRepositoryError`` naming the bad field.
    public func validate() throws {
        try TemplateName.validate(name, kind: "Template name")
        try TemplateName.validate(version, kind: "Version")
        guard !osType.trimmingCharacters(in: .whitespaces).isEmpty, osType.count <= 255 else {
            throw TemplateRepositoryError.malformed(document: "template \(name)@\(version)", reason: "the OS type name is empty or too long")
        }
        guard displayText.count <= 4096 else {
            throw TemplateRepositoryError.malformed(
                document: "template \(name)@\(version)", reason: "the display text is longer than 4096 characters")
        }
        if let cpus = minimumCPUs, cpus < 1 {
            throw TemplateRepositoryError.malformed(document: "template \(name)@\(version)", reason: "minimum CPUs must be at least 1")
        }
        if let memory = minimumMemoryMB, memory < 1 {
            throw TemplateRepositoryError.malformed(document: "template \(name)@\(version)", reason: "minimum memory must be at least 1 MB")
        }
        if let expires, Timestamps.date(from: expires) == nil {
            throw TemplateRepositoryError.malformed(document: "template \(name)@\(version)", reason: "expires \(expires) is not yyyy-MM-ddTHH:mm:ssZ")
        }
    }
}

/// Rules for template names and versions: they become parts of URLs and file names, so only
/// letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 128 characters, no `..`.
public enum TemplateName {
    public static func isValid(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard (1...128).contains(bytes.count), isAlphanumeric(bytes[0]), !value.contains("..") else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// - Throws: ``TemplateRepositoryError`` `invalidName`.
    public static func validate(_ value: String, kind: String) throws {
        guard isValid(value) else { throw TemplateRepositoryError.invalidName(kind: kind, value: value) }
    }

    /// Splits `NAME@VERSION` (version optional).
    /// - Throws: ``TemplateRepositoryError`` `invalidName` for a bad part.
    public static func parseReference(_ text: String) throws -> (name: String, version: String?) {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        try validate(parts[0], kind: "Template name")
        if parts.count == 2 {
            try validate(parts[1], kind: "Version")
            return (parts[0], parts[1])
        }
        return (parts[0], nil)
    }

    private static func isAlphanumeric(_ b: UInt8) -> Bool {
        (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b)
    }
}
