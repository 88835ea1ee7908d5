import Foundation

/// When a recipe is rebuilt on its own (for security updates): daily, weekly on a weekday, or monthly on a
/// day of the month, at a UTC time of day.
public struct RebuildSchedule: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Period: String, Sendable, Hashable, Codable, CaseIterable {
        case daily, weekly, monthly
    }

    public var every: Period
    /// Weekly: 1 (Monday) to 7 (Sunday). Monthly: 1 to 28 (so that every month has it).
    public var day: Int
    /// Minutes after midnight UTC.
    public var minute: Int

    public init(every: Period, day: Int = 1, minute: Int = 3 * 60) {
        self.every = every
        self.day = day
        self.minute = minute
    }

    public var description: String {
        let time = String(format: "%02d:%02d UTC", minute / 60, minute % 60)
        switch every {
        case .daily: return "daily at \(time)"
        case .weekly: return "weekly on day \(day) at \(time)"
        case .monthly: return "monthly on day \(day) at \(time)"
        }
    }

    /// The first rebuild time strictly after `date`.
    public func next(after date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let startOfDay = calendar.startOfDay(for: date)
        // Walk day by day from today (at most 62 days covers every period): the first matching day whose time is later.
        for offset in 0...62 {
            guard let day = calendar.date(byAdding: .day, value: offset, to: startOfDay) else { continue }
            let candidate = day.addingTimeInterval(Double(minute) * 60)
            guard candidate > date, matches(day, calendar) else { continue }
            return candidate
        }
        return date.addingTimeInterval(86_400)
    }

    private func matches(_ day: Date, _ calendar: Calendar) -> Bool {
        switch every {
        case .daily: return true
        case .weekly:
            // Calendar weekday: 1 = Sunday … 7 = Saturday; ours: 1 = Monday … 7 = Sunday.
            let weekday = calendar.component(.weekday, from: day)
            return (weekday + 5) % 7 + 1 == self.day
        case .monthly: return calendar.component(.day, from: day) == self.day
        }
    }
}
