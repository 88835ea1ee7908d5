/// How a template version was built from a recipe (`mclouds template build`): which recipe, where, from
/// which base, and what its checks printed inside the builder VM. Signed with the manifest it is part of.
public struct BuildProvenance: Codable, Sendable, Hashable {
    /// The recipe's name and the SHA-256 of its text as built.
    public var recipe: String
    public var recipeDigest: String
    /// The region whose CloudStack built it.
    public var region: String
    /// The base it was built from (`NAME@VERSION` of a repository template, or a CloudStack template's name).
    public var base: String
    public var checks: [Check]

    public init(recipe: String, recipeDigest: String, region: String, base: String, checks: [Check]) {
        self.recipe = recipe
        self.recipeDigest = recipeDigest
        self.region = region
        self.base = base
        self.checks = checks
    }

    /// One check run inside the builder VM: its command, exit code and output (the output kept to 4 KiB).
    public struct Check: Codable, Sendable, Hashable {
        public var name: String
        public var command: String
        public var exitCode: Int
        public var output: String

        public init(name: String, command: String, exitCode: Int, output: String) {
            self.name = name
            self.command = command
            self.exitCode = exitCode
            self.output = output
        }
    }
}

/// The tags an mClouds agent puts on the CloudStack templates it registers, by which a region's copy of a
/// repository version is found.
public enum RegistrationTags {
    public static let template = "mclouds.template"
    public static let version = "mclouds.version"
    public static let digest = "mclouds.digest"
}
