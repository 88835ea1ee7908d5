import Foundation
import TemplateRepository

/// How a build names the version it publishes.
public enum VersionRule: Sendable, Hashable {
    /// The build's UTC date, `yyyy.MM.dd` (`.2`, `.3`… appended for a second build that day).
    case date
    /// One more than the largest whole-number version published so far (1 for the first).
    case counter
    /// The value of a `metadata` field of the recipe (e.g. a tool chain release): a build of an unchanged
    /// value is refused, since versions are never reused.
    case field(String)

    /// The version a build at `now` publishes, given every version of the template published so far.
    /// - Throws: ``BuilderError`` `conflict` when a `field` rule's value is taken, `invalidRecipe` when it is
    ///   missing or not a valid version.
    public func next(existing: [String], now: Date, metadata: [String: String]) throws -> String {
        let taken = Set(existing)
        switch self {
        case .date:
            let day = Self.day(now)
            if !taken.contains(day) { return day }
            var n = 2
            while taken.contains("\(day).\(n)") { n += 1 }
            return "\(day).\(n)"
        case .counter:
            return String((existing.compactMap { Int($0) }.max() ?? 0) + 1)
        case .field(let name):
            guard let value = metadata[name], TemplateName.isValid(value) else {
                throw BuilderError.invalidRecipe(
                    line: nil, field: "version", "the version comes from metadata.\(name), which is missing or not a valid version")
            }
            guard !taken.contains(value) else {
                throw BuilderError.conflict(
                    "version \(value) (from metadata.\(name)) is already published: versions are never reused, change the field to build a new one")
            }
            return value
        }
    }

    static func day(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d.%02d.%02d", c.year!, c.month!, c.day!)
    }
}
