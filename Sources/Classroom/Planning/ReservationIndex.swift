import Foundation

/// Accepted reservations per region, sorted by the start of their widened window, for the peak-usage sweep:
/// finding those that overlap a window is a binary search, not a scan of the term.
public struct ReservationIndex: Sendable {
    struct Entry: Sendable {
        var start: Double
        var end: Double
        var cpu: Int64
        var memory: Int64
        var bookingID: String
    }

    private(set) var byRegion: [Int: [Entry]] = [:]
    /// The longest window per region (bounds how far back an overlapping entry can start).
    private var longest: [Int: Double] = [:]
    /// Seconds added before each reservation (provisioning lead) and after it (teardown grace).
    public let lead: Double
    public let grace: Double

    public init(_ reservations: [Reservation] = [], lead: Double, grace: Double) {
        self.lead = lead
        self.grace = grace
        for reservation in reservations { append(reservation, sorted: false) }
        for key in byRegion.keys { byRegion[key]!.sort { $0.start < $1.start } }
    }

    /// The number of reservations held.
    public var count: Int { byRegion.values.reduce(0) { $0 + $1.count } }

    /// Adds a reservation, keeping the order.
    public mutating func insert(_ reservation: Reservation) { append(reservation, sorted: true) }

    private mutating func append(_ r: Reservation, sorted: Bool) {
        let entry = Entry(
            start: r.start.timeIntervalSince1970 - max(lead, r.leadSeconds ?? 0), end: r.end.timeIntervalSince1970 + grace, cpu: r.cpu,
            memory: r.memory,
            bookingID: r.bookingID)
        longest[r.regionID] = max(longest[r.regionID] ?? 0, entry.end - entry.start)
        if sorted {
            var list = byRegion[r.regionID] ?? []
            list.insert(entry, at: Self.firstIndex(list, startingAtOrAfter: entry.start))
            byRegion[r.regionID] = list
        } else {
            byRegion[r.regionID, default: []].append(entry)
        }
    }

    private static func firstIndex(_ list: [Entry], startingAtOrAfter time: Double) -> Int {
        var low = 0
        var high = list.count
        while low < high {
            let mid = (low + high) / 2
            if list[mid].start < time { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The peak CPU and memory the reservations of `region` hold at any moment of [start, end) — Blazar's
    /// `max_usages` sweep over the start and end events inside the window — leaving out `excluding`'s own.
    public func peak(region: Int, from start: Double, to end: Double, excluding: String? = nil) -> (cpu: Int64, memory: Int64) {
        guard let list = byRegion[region], !list.isEmpty else { return (0, 0) }
        let from = Self.firstIndex(list, startingAtOrAfter: start - (longest[region] ?? 0))
        var events: [(time: Double, cpu: Int64, memory: Int64)] = []
        var index = from
        while index < list.count, list[index].start < end {
            let entry = list[index]
            index += 1
            guard entry.end > start, entry.bookingID != excluding else { continue }
            events.append((max(entry.start, start), entry.cpu, entry.memory))
            events.append((min(entry.end, end), -entry.cpu, -entry.memory))
        }
        guard !events.isEmpty else { return (0, 0) }
        // Ends before starts at the same moment: windows are half-open, so back-to-back bookings do not add up.
        events.sort { $0.time != $1.time ? $0.time < $1.time : $0.cpu < $1.cpu }
        var cpu: Int64 = 0
        var memory: Int64 = 0
        var peakCPU: Int64 = 0
        var peakMemory: Int64 = 0
        for event in events {
            cpu += event.cpu
            memory += event.memory
            peakCPU = max(peakCPU, cpu)
            peakMemory = max(peakMemory, memory)
        }
        return (peakCPU, peakMemory)
    }
}
