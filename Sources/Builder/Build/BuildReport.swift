import TemplateRepository

/// Where a build is.
public enum BuildState: String, Codable, Sendable, CaseIterable {
    case running, succeeded, failed
}

/// What a build did: the version it published, or the step that failed and why; its checks' results; what it
/// made of the image; and anything it could not clean up.
public struct BuildReport: Codable, Sendable, Hashable {
    public var id: String
    public var recipe: String
    public var recipeDigest: String
    public var region: String
    public var state: BuildState
    /// The step running now, or the last one run.
    public var step: BuildStep?
    /// The step that failed, for a failed build.
    public var failedStep: BuildStep?
    public var error: String?
    /// The version published (or, before publishing, the one the build will publish).
    public var version: String?
    public var base: String?
    public var checks: [BuildProvenance.Check]
    /// The image's size, its chunks, the chunks the repository did not hold yet and their bytes.
    public var imageSize: Int64?
    public var chunks: Int?
    public var newChunks: Int?
    public var newBytes: Int64?
    /// The previous version this one was compared with, and the share of this one's bytes in chunks it shares with it.
    public var previousVersion: String?
    public var sharedWithPrevious: Double?
    /// Resources the cleanup could not remove (none when everything went as it should).
    public var leftovers: [String]
    public var started: String
    public var finished: String?
    /// Who asked for it (a user, or `schedule`).
    public var requestedBy: String

    public init(id: String, recipe: Recipe, region: String, requestedBy: String, started: String) {
        self.id = id
        self.recipe = recipe.name
        self.recipeDigest = recipe.digest
        self.region = region
        self.state = .running
        self.checks = []
        self.leftovers = []
        self.started = started
        self.requestedBy = requestedBy
    }
}

/// One line of a build's log.
public struct BuildLogLine: Codable, Sendable, Hashable {
    /// Its position in the log, from 1: ask for lines after the last one seen to follow a build.
    public var sequence: Int
    public var time: String
    public var step: BuildStep?
    public var text: String

    public init(sequence: Int, time: String, step: BuildStep?, text: String) {
        self.sequence = sequence
        self.time = time
        self.step = step
        self.text = text
    }
}
