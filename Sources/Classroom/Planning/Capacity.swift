import Foundation

/// What one seat takes in a region: its service offering's CPU (cores × MHz) and memory.
public struct SeatSize: Sendable, Hashable, Codable {
    public var cpuMHz: Int64
    public var memoryBytes: Int64

    public init(cpuMHz: Int64, memoryBytes: Int64) {
        self.cpuMHz = cpuMHz
        self.memoryBytes = memoryBytes
    }
}

/// A region as the planner sees it: its capacity from the dashboard's latest snapshot (CPU and memory, totals
/// and what is allocated by anything but bookings), what a seat of the requested offering takes there, and
/// whether the requested template is Ready there.
public struct RegionCapacity: Sendable, Hashable, Codable {
    public var regionID: Int
    public var name: String
    public var cpuMHz: Int64
    /// Allocated by everything but the scheduler's own seats.
    public var cpuMHzUsed: Int64
    public var memoryBytes: Int64
    public var memoryBytesUsed: Int64
    /// nil: the offering does not exist there.
    public var seatSize: SeatSize?
    /// Whether the template's current version is Ready there.
    public var templateReady: Bool
    /// How long the template's seats took there from provisioning to Running, as last measured (nil: never).
    /// A slow one starts provisioning earlier (``CapacityPlanner/Configuration/lead(measured:)``).
    public var measuredDeploySeconds: Double?

    public init(
        regionID: Int, name: String, cpuMHz: Int64, cpuMHzUsed: Int64, memoryBytes: Int64, memoryBytesUsed: Int64, seatSize: SeatSize?,
        templateReady: Bool, measuredDeploySeconds: Double? = nil
    ) {
        self.measuredDeploySeconds = measuredDeploySeconds
        self.regionID = regionID
        self.name = name
        self.cpuMHz = cpuMHz
        self.cpuMHzUsed = cpuMHzUsed
        self.memoryBytes = memoryBytes
        self.memoryBytesUsed = memoryBytesUsed
        self.seatSize = seatSize
        self.templateReady = templateReady
    }
}

/// Seats an accepted booking holds in one region for one session (class times; the planner adds the lead and
/// grace margins).
public struct Reservation: Sendable, Hashable, Codable {
    public var bookingID: String
    public var session: Int
    public var regionID: Int
    public var start: Date
    public var end: Date
    public var seats: Int
    public var size: SeatSize
    /// Its provisioning lead when longer than the configured one (a slow template there); nil: the configured one.
    public var leadSeconds: Double?

    public init(
        bookingID: String, session: Int, regionID: Int, start: Date, end: Date, seats: Int, size: SeatSize, leadSeconds: Double? = nil
    ) {
        self.leadSeconds = leadSeconds
        self.bookingID = bookingID
        self.session = session
        self.regionID = regionID
        self.start = start
        self.end = end
        self.seats = seats
        self.size = size
    }

    var cpu: Int64 { Int64(seats) * size.cpuMHz }
    var memory: Int64 { Int64(seats) * size.memoryBytes }
}

/// Where a session's seats go: `seats` of them in region `regionID`.
public struct Placement: Sendable, Hashable, Codable {
    public var session: Int
    public var regionID: Int
    public var seats: Int
    public var size: SeatSize
    /// The provisioning lead these seats were planned with (nil: the configured one).
    public var leadSeconds: Double?

    public init(session: Int, regionID: Int, seats: Int, size: SeatSize, leadSeconds: Double? = nil) {
        self.leadSeconds = leadSeconds
        self.session = session
        self.regionID = regionID
        self.seats = seats
        self.size = size
    }
}
