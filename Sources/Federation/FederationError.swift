/// What went wrong in the federation registry or its reconciliation, with what to do about it.
public struct FederationError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        case invalid
        case notFound
        case conflict
        case secret
    }

    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    static func notFound(_ id: Int) -> Self {
        .init(.notFound, "No region with id \(id) in the registry. `mclouds region list` shows the registered ones.")
    }
}
