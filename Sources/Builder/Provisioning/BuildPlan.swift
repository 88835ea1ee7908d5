import Foundation

/// What the guest of a builder VM does after installing: run the recipe's scripts in order, run its checks,
/// post the results to the one-time callback, power off. The user data carries it twice: as a file the
/// guest's report program reads, and on a `# mclouds-build-plan: BASE64` line (how the simulator's guest
/// finds it; a comment to cloud-init and PowerShell).
public struct BuildPlan: Codable, Sendable, Hashable {
    /// The one-time URL the guest posts its report to.
    public var callback: String
    /// Paths of the scripts to run, in order (Linux: files the user data writes).
    public var scripts: [String]
    public var checks: [Recipe.Check]
    public var powerOff: Bool

    public init(callback: String, scripts: [String], checks: [Recipe.Check], powerOff: Bool = true) {
        self.callback = callback
        self.scripts = scripts
        self.checks = checks
        self.powerOff = powerOff
    }

    /// The plan as base64 of its JSON (keys sorted, so that the text follows from the plan).
    public var encoded: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(self)) ?? Data()).base64EncodedString()
    }

    /// The comment line that carries the plan.
    public var markerLine: String { "# mclouds-build-plan: \(encoded)" }
}

/// What a guest posts to its callback: each script's and check's outcome.
public struct GuestReport: Codable, Sendable, Hashable {
    public struct Result: Codable, Sendable, Hashable {
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

    public var checks: [Result]
    /// Scripts that failed, if any (their output in ``Result/output``).
    public var scripts: [Result]?

    public init(checks: [Result], scripts: [Result]? = nil) {
        self.checks = checks
        self.scripts = scripts
    }
}
