import Foundation

/// Decides whether a booking fits the federation, without I/O: every session's seats must fit, in regions where
/// the template is Ready and the offering exists, under the headroom (CloudStack's allocators stop placing VMs
/// at `cluster.*.allocated.capacity.disablethreshold`, 85 % by default), with every accepted booking that
/// overlaps the session — widened by the provisioning lead before and the teardown grace after — subtracted at
/// its peak (Blazar's sweep).
///
/// ```swift
/// let planner = CapacityPlanner(regions: capacities, reservations: index, configuration: .init())
/// switch planner.plan(request) { case .accepted(let placements): …; case .refused(let refusal): … }
/// ```
public struct CapacityPlanner: Sendable {
    public struct Configuration: Sendable, Hashable, Codable {
        /// Planned CPU and memory stay at or under this share of a region.
        public var headroom: Double = 0.85
        /// Provisioning starts this long before a session (its seats count from then).
        public var leadSeconds: Double = 1800
        /// Seats are gone this long after a session ends.
        public var graceSeconds: Double = 900
        /// The longest lead a slow template gets.
        public var maximumLeadSeconds: Double = 4 * 3600
        public var policy: Policy = .pack
        /// The start-time shifts tried for alternatives, nearest first, in minutes.
        public var shifts: [Int] = [30, -30, 60, -60, 90, -90, 120, -120, 180, -180, 240, -240]

        public init() {}

        /// The lead for a template whose seats took `measured` seconds to run in a region: twice that plus five
        /// minutes when it is longer than the configured lead (capped), so a slow template is still ready in time.
        public func lead(measured: Double?) -> Double {
            guard let measured, measured > 0 else { return leadSeconds }
            return min(max(leadSeconds, maximumLeadSeconds), max(leadSeconds, 2 * measured + 300))
        }

        /// The widest window around a session that a reservation's lead and grace can reach.
        public var widestMargin: Double { max(leadSeconds, maximumLeadSeconds) + graceSeconds }
    }

    /// Which region a session's seats go to first.
    public enum Policy: String, Sendable, Hashable, Codable {
        /// The region with the least room that still takes them (keeps big regions free for big classes).
        case pack
        /// The region with the most room (balances the federation).
        case spread
    }

    /// What is asked: seats for each session, in these regions (in order of preference; empty: anywhere).
    public struct Request: Sendable, Hashable {
        public var bookingID: String
        public var sessions: [Session]
        public var seats: Int
        public var regions: [Int]
        public var allowSplit: Bool

        public init(bookingID: String, sessions: [Session], seats: Int, regions: [Int], allowSplit: Bool) {
            self.bookingID = bookingID
            self.sessions = sessions
            self.seats = seats
            self.regions = regions
            self.allowSplit = allowSplit
        }
    }

    /// Why one session does not fit.
    public struct Shortfall: Sendable, Hashable, Codable {
        public var session: Int
        public var start: LocalDateTime
        /// The region that came closest (nil when no region qualifies at all).
        public var regionID: Int?
        /// `cpu`, `memory`, or `template` / `offering` when no region has them.
        public var resource: String
        public var missingSeats: Int
        /// MHz for `cpu`, bytes for `memory`.
        public var missingAmount: Int64
    }

    /// Another way the booking would fit.
    public struct Alternative: Sendable, Hashable, Codable {
        /// `region`, `split` or `shift`.
        public var kind: String
        public var regionID: Int?
        /// Minutes the start moves (for `shift`).
        public var shiftMinutes: Int?
        public var summary: String
    }

    public struct Refusal: Sendable, Hashable, Codable {
        public var shortfalls: [Shortfall]
        public var alternatives: [Alternative]
    }

    public enum Outcome: Sendable, Hashable {
        case accepted([Placement])
        case refused(Refusal)
    }

    public let regions: [RegionCapacity]
    public let reservations: ReservationIndex
    public let configuration: Configuration

    public init(regions: [RegionCapacity], reservations: ReservationIndex, configuration: Configuration = .init()) {
        self.regions = regions
        self.reservations = reservations
        self.configuration = configuration
    }

    /// The placements of every held session, or why not and what would fit instead.
    public func plan(_ request: Request) -> Outcome {
        switch place(request) {
        case .success(let placements): return .accepted(placements)
        case .failure(let shortfalls): return .refused(Refusal(shortfalls: shortfalls.list, alternatives: alternatives(request)))
        }
    }

    /// Seats of `region` free throughout [start − lead, end + grace), and the resource that binds.
    func free(_ region: RegionCapacity, _ session: Session, excluding: String?, extra: [Placement] = [], sessionOf: [Int: Session] = [:])
        -> (seats: Int, binding: String, cpuLeft: Int64, memoryLeft: Int64)
    {
        guard let size = region.seatSize, size.cpuMHz > 0, size.memoryBytes > 0 else { return (0, "offering", 0, 0) }
        let lead = configuration.lead(measured: region.measuredDeploySeconds)
        let from = session.start.timeIntervalSince1970 - lead
        let to = session.end.timeIntervalSince1970 + configuration.graceSeconds
        var peak = reservations.peak(region: region.regionID, from: from, to: to, excluding: excluding)
        // This request's own placements so far that overlap (sessions longer than the gap between them).
        for placement in extra where placement.regionID == region.regionID {
            guard let other = sessionOf[placement.session], other.index != session.index,
                other.start.timeIntervalSince1970 - lead < to,
                other.end.timeIntervalSince1970 + configuration.graceSeconds > from
            else { continue }
            peak.cpu += Int64(placement.seats) * size.cpuMHz
            peak.memory += Int64(placement.seats) * size.memoryBytes
        }
        let cpuLeft = headroomCPU(region) - peak.cpu
        let memoryLeft = headroomMemory(region) - peak.memory
        let byCPU = max(0, cpuLeft / size.cpuMHz)
        let byMemory = max(0, memoryLeft / size.memoryBytes)
        return (Int(min(byCPU, byMemory)), byCPU <= byMemory ? "cpu" : "memory", cpuLeft, memoryLeft)
    }

    private func headroomCPU(_ region: RegionCapacity) -> Int64 { Int64(Double(region.cpuMHz) * configuration.headroom) - region.cpuMHzUsed }
    private func headroomMemory(_ region: RegionCapacity) -> Int64 {
        Int64(Double(region.memoryBytes) * configuration.headroom) - region.memoryBytesUsed
    }

    /// CPU and memory of `region` still free for bookings at the busiest moment of [start, end) (under the
    /// headroom, after what is allocated outside the scheduler and every reservation's widened window).
    public func room(region: RegionCapacity, from start: Date, to end: Date) -> (cpuMHz: Int64, memoryBytes: Int64) {
        let peak = reservations.peak(region: region.regionID, from: start.timeIntervalSince1970, to: end.timeIntervalSince1970)
        return (max(0, headroomCPU(region) - peak.cpu), max(0, headroomMemory(region) - peak.memory))
    }

    /// The regions that may take seats, in the order they are tried.
    func candidates(_ request: Request) -> [RegionCapacity] {
        let eligible = regions.filter { $0.templateReady && $0.seatSize != nil }
        if !request.regions.isEmpty { return request.regions.compactMap { id in eligible.first { $0.regionID == id } } }
        // Ordered by the room they have over the whole series (their tightest session).
        let room = Dictionary(
            uniqueKeysWithValues: eligible.map { region in
                (region.regionID, request.sessions.map { free(region, $0, excluding: request.bookingID).seats }.min() ?? 0)
            })
        return eligible.sorted { a, b in
            let (ra, rb) = (room[a.regionID]!, room[b.regionID]!)
            switch configuration.policy {
            case .pack:
                // The tightest region that takes the whole class first; those that cannot, after, roomiest first.
                let (fa, fb) = (ra >= request.seats, rb >= request.seats)
                if fa != fb { return fa }
                return fa ? (ra, a.regionID) < (rb, b.regionID) : (ra, b.regionID) > (rb, a.regionID)
            case .spread:
                return (ra, b.regionID) > (rb, a.regionID)
            }
        }
    }

    /// The region's lead for the template when it is longer than the configured one.
    func leadIfLonger(_ region: RegionCapacity) -> Double? {
        let lead = configuration.lead(measured: region.measuredDeploySeconds)
        return lead > configuration.leadSeconds ? lead : nil
    }

    func place(_ request: Request) -> Result<[Placement], Shortfalls> {
        let order = candidates(request)
        let sessionOf = Dictionary(uniqueKeysWithValues: request.sessions.map { ($0.index, $0) })
        var placements: [Placement] = []
        var shortfalls: [Shortfall] = []
        for session in request.sessions where !session.skipped {
            let room = order.map { (region: $0, free: free($0, session, excluding: request.bookingID, extra: placements, sessionOf: sessionOf)) }
            if let whole = room.first(where: { $0.free.seats >= request.seats }) {
                placements.append(
                    Placement(
                        session: session.index, regionID: whole.region.regionID, seats: request.seats, size: whole.region.seatSize!,
                        leadSeconds: leadIfLonger(whole.region)))
                continue
            }
            if request.allowSplit {
                var left = request.seats
                var parts: [Placement] = []
                for entry in room where left > 0 && entry.free.seats > 0 {
                    let take = min(left, entry.free.seats)
                    parts.append(
                        Placement(
                            session: session.index, regionID: entry.region.regionID, seats: take, size: entry.region.seatSize!,
                            leadSeconds: leadIfLonger(entry.region)))
                    left -= take
                }
                if left == 0 {
                    placements += parts
                    continue
                }
            }
            shortfalls.append(shortfall(request, session, room.map { ($0.region, $0.free) }))
        }
        return shortfalls.isEmpty ? .success(placements) : .failure(Shortfalls(list: shortfalls))
    }

    struct Shortfalls: Error {
        var list: [Shortfall]
    }

    private func shortfall(
        _ request: Request, _ session: Session, _ room: [(RegionCapacity, (seats: Int, binding: String, cpuLeft: Int64, memoryLeft: Int64))]
    ) -> Shortfall {
        guard let best = room.max(by: { $0.1.seats < $1.1.seats }) else {
            let anyReady = regions.contains { $0.templateReady && (request.regions.isEmpty || request.regions.contains($0.regionID)) }
            return Shortfall(
                session: session.index, start: session.local, regionID: nil, resource: anyReady ? "offering" : "template",
                missingSeats: request.seats, missingAmount: 0)
        }
        // With a split the seats of every region count; without, the closest region's.
        let have = request.allowSplit ? room.map(\.1.seats).reduce(0, +) : best.1.seats
        let missing = request.seats - have
        let size = best.0.seatSize!
        let amount =
            best.1.binding == "cpu"
            ? Int64(request.seats - best.1.seats) * size.cpuMHz - max(0, best.1.cpuLeft % size.cpuMHz)
            : Int64(request.seats - best.1.seats) * size.memoryBytes - max(0, best.1.memoryLeft % size.memoryBytes)
        return Shortfall(
            session: session.index, start: session.local, regionID: best.0.regionID, resource: best.1.binding, missingSeats: missing,
            missingAmount: max(0, amount))
    }

    /// Other regions that take the whole series, a split, and the nearest start times on the same days that fit.
    func alternatives(_ request: Request) -> [Alternative] {
        var found: [Alternative] = []
        let eligible = regions.filter { $0.templateReady && $0.seatSize != nil }
        for region in eligible where !request.regions.contains(region.regionID) || request.regions.count > 1 {
            var alone = request
            alone.regions = [region.regionID]
            alone.allowSplit = false
            if case .success = place(alone) {
                found.append(
                    Alternative(kind: "region", regionID: region.regionID, shiftMinutes: nil, summary: "every session fits in \(region.name)"))
            }
        }
        if !request.allowSplit {
            var split = request
            split.allowSplit = true
            if case .success = place(split) {
                found.append(Alternative(kind: "split", regionID: nil, shiftMinutes: nil, summary: "fits if sessions may be split across regions"))
            }
        }
        var shifts = 0
        for minutes in configuration.shifts where shifts < 3 {
            var moved = request
            moved.sessions = request.sessions.map { session in
                var session = session
                session.start = session.start.addingTimeInterval(Double(minutes) * 60)
                session.end = session.end.addingTimeInterval(Double(minutes) * 60)
                return session
            }
            // The same weekday: a shift may not cross midnight.
            guard let first = request.sessions.first, (0..<24 * 60).contains(first.local.hour * 60 + first.local.minute + minutes) else { continue }
            if case .success = place(moved) {
                let time = first.local.hour * 60 + first.local.minute + minutes
                found.append(
                    Alternative(
                        kind: "shift", regionID: nil, shiftMinutes: minutes,
                        summary: String(format: "every session fits at %02d:%02d (%@%d min)", time / 60, time % 60, minutes > 0 ? "+" : "", minutes)))
                shifts += 1
            }
        }
        return found
    }
}
