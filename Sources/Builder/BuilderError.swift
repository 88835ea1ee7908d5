/// What went wrong building a template from a recipe, and what to do about it.
public struct BuilderError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Kind: Sendable, Equatable {
        case invalidRecipe(field: String)
        case notFound
        case conflict
        case step(BuildStep)
        case refused
    }

    private let kind: Kind
    /// What happened and what to do.
    public let message: String
    /// For a recipe error: the line of the recipe it is on (1-based), when known.
    public let line: Int?

    private init(_ kind: Kind, _ message: String, line: Int? = nil) {
        self.kind = kind
        self.message = message
        self.line = line
    }

    public var description: String { message }

    /// A recipe that does not parse or validate: the message names the file, line and field.
    public static func invalidRecipe(file: String = "recipe", line: Int?, field: String, _ reason: String) -> Self {
        .init(.invalidRecipe(field: field), "\(file)\(line.map { ":\($0)" } ?? ""): \(field): \(reason)", line: line)
    }
    /// No such build, recipe or base template.
    public static func notFound(_ message: String) -> Self { .init(.notFound, message) }
    /// The request clashes with the state (a version already published, a recipe built elsewhere now).
    public static func conflict(_ message: String) -> Self { .init(.conflict, message) }
    /// A build step failed; everything the build made was removed.
    public static func stepFailed(_ step: BuildStep, _ message: String) -> Self { .init(.step(step), "\(step.rawValue) failed: \(message)") }
    /// A build callback with a wrong, used or missing token.
    public static func refused(_ message: String) -> Self { .init(.refused, message) }

    /// The failed step, for a step failure.
    public var step: BuildStep? {
        if case .step(let step) = kind { return step }
        return nil
    }

    /// The recipe field at fault, for a recipe error.
    public var field: String? {
        if case .invalidRecipe(let field) = kind { return field }
        return nil
    }

    /// The kind's name, for mapping to HTTP statuses in `Server` (`invalidRecipe`, `notFound`, `conflict`, `step`, `refused`).
    public var category: String {
        switch kind {
        case .invalidRecipe: "invalidRecipe"
        case .notFound: "notFound"
        case .conflict: "conflict"
        case .step: "step"
        case .refused: "refused"
        }
    }

    /// Errors are equal when of the same kind (and field or step), whatever their messages say.
    public static func == (a: BuilderError, b: BuilderError) -> Bool { a.kind == b.kind }
}
