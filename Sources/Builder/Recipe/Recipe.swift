import Core
import Crypto
import TemplateRepository

/// A template recipe: what to start from, what to install and run, what to check, and what to publish. Kept
/// in version control as YAML (`docs/recipes.md`), parsed with ``parse(_:file:)``, which names the line and
/// field of anything wrong.
///
/// ```swift
/// let recipe = try Recipe.parse(String(contentsOfFile: "recipes/microelectronics-ubuntu.yaml"), file: "microelectronics-ubuntu.yaml")
/// print(UserData.generate(for: recipe, plan: plan))
/// ```
public struct Recipe: Sendable, Hashable {
    /// The guest's OS family: decides the user data's language (cloud-init or cloudbase-init PowerShell).
    public enum OSFamily: String, Sendable, Hashable, CaseIterable {
        case linux, windows
    }

    /// What the builder VM starts from.
    public enum Base: Sendable, Hashable, CustomStringConvertible {
        /// A repository template, as the region's agent registered it (the newest version there, or this one).
        case repository(name: String, version: String?)
        /// A template of the build region's CloudStack, by name.
        case cloudStack(name: String)

        public var description: String {
            switch self {
            case .repository(let name, let version): version.map { "\(name)@\($0)" } ?? name
            case .cloudStack(let name): "cloudstack:\(name)"
            }
        }
    }

    /// Windows package managers.
    public enum PackageManager: String, Sendable, Hashable, CaseIterable {
        case chocolatey, winget
    }

    /// A file written into the image.
    public struct File: Sendable, Hashable {
        public var path: String
        public var content: String
        /// Octal mode (Linux), e.g. `0644`.
        public var permissions: String?
    }

    /// A script run in order after the packages are installed.
    public struct Script: Sendable, Hashable {
        public var name: String
        public var run: String
    }

    /// A command that must exit 0 inside the VM; its output is kept in the build log and the manifest.
    public struct Check: Sendable, Hashable, Codable {
        public var name: String
        public var command: String
    }

    /// Where and how the builder VM runs.
    public struct Build: Sendable, Hashable {
        /// The CloudStack service offering's name.
        public var offering: String
        /// The root disk size in GiB (`rootdisksize`), when larger than the template's.
        public var diskGiB: Int?
        /// How long provisioning may take before the build fails.
        public var timeoutMinutes: Int
        /// The zone's name (default: the first zone where the base is ready).
        public var zone: String?
    }

    /// What the published template says of itself.
    public struct Output: Sendable, Hashable {
        public var osType: String
        public var hypervisor: Hypervisor
        public var format: ImageFormat
        public var displayText: String?
        public var minimumCPUs: Int?
        public var minimumMemoryMB: Int?
    }

    /// The output template's name (the repository template the builds publish versions of).
    public var name: String
    public var description: String
    public var os: OSFamily
    public var base: Base
    public var packages: [String]
    public var packageManager: PackageManager
    public var files: [File]
    public var scripts: [Script]
    /// Extra cloud-config (Linux), as YAML text of a mapping merged into the generated one.
    public var cloudInit: String?
    /// Extra PowerShell (Windows), run after the packages and files, before the scripts.
    public var powershell: String?
    public var build: Build
    public var output: Output
    public var version: VersionRule
    /// Free metadata (course, maintainer, release…); a `field` version rule reads one of these.
    public var metadata: [String: String]
    /// Software the template lists besides its packages.
    public var software: [String]
    public var checks: [Check]
    public var schedule: RebuildSchedule?
    /// The recipe's text as parsed, and its SHA-256 (lower-case hex): what a manifest names as its recipe.
    public var text: String
    public var digest: String { Array(SHA256.hash(data: Array(text.utf8))).hexString }

    /// What the published version lists as its software: the packages, then the extra software.
    public var softwareList: [String] {
        var seen = Set<String>()
        return (packages + software).filter { seen.insert($0).inserted }
    }
}
