import Foundation

/// Dates in documents: `yyyy-MM-ddTHH:mm:ssZ` in UTC.
public enum Timestamps {
    private static let style = Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!)

    public static func string(from date: Date) -> String { style.format(date) }

    public static func date(from text: String) -> Date? { try? style.parse(text) }
}
