/// What went wrong in the classroom scheduler, and what to do about it.
public struct ClassroomError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Kind: Sendable, Equatable {
        case invalid
        case notFound
        case conflict
        case doesNotFit
        case forbidden
        case cloud
    }

    private let kind: Kind
    /// What happened and what to do.
    public let message: String

    private init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Bad input: a malformed rule, an unknown time zone, an impossible date; the message names the field.
    public static func invalid(_ message: String) -> Self { .init(.invalid, message) }
    /// No such course, booking or group.
    public static func notFound(_ what: String) -> Self { .init(.notFound, "No \(what): `mclouds class list` shows what there is.") }
    /// The change clashes with the state (a cancelled booking, a course code in use).
    public static func conflict(_ message: String) -> Self { .init(.conflict, message) }
    /// The booking does not fit the federation's capacity (the refusal says where and proposes alternatives).
    public static func doesNotFit(_ message: String) -> Self { .init(.doesNotFit, message) }
    /// The caller may not touch this course.
    public static func forbidden(_ message: String) -> Self { .init(.forbidden, message) }
    /// A CloudStack call failed while provisioning or tearing down.
    public static func cloud(_ message: String) -> Self { .init(.cloud, message) }

    /// The kind's name, for mapping to HTTP statuses in `Server` (`invalid`, `notFound`, `conflict`, `doesNotFit`,
    /// `forbidden`, `cloud`).
    public var category: String { "\(kind)" }

    /// Errors are equal when they are of the same kind, whatever the details their messages give (so tests and
    /// callers compare values — `error == .invalid("")` — never texts).
    public static func == (a: ClassroomError, b: ClassroomError) -> Bool { a.kind == b.kind }
}
