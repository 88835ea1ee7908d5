/// A course: a teacher's class at one university, in one time zone, with its student groups and bookings.
public struct Course: Sendable, Hashable, Codable {
    public var id: String
    /// A short code unique in the federation (`EE-201`).
    public var code: String
    public var title: String
    /// The teacher's username.
    public var teacher: String
    /// The teacher's home region (partner admins of that region manage the course), if any.
    public var region: String?
    /// The IANA time zone its bookings are in.
    public var timeZone: String
    public var created: String
    /// The source networks (CIDRs) students may reach the course's seats from over SSH or RDP; none means the
    /// seats get no forwarded port (the browser console still works).
    public var allowedNetworks: [String]

    public init(
        id: String, code: String, title: String, teacher: String, region: String?, timeZone: String, created: String, allowedNetworks: [String] = []
    ) {
        self.allowedNetworks = allowedNetworks
        self.id = id
        self.code = code
        self.title = title
        self.teacher = teacher
        self.region = region
        self.timeZone = timeZone
        self.created = created
    }
}

/// A student of a course's group.
public struct Member: Sendable, Hashable, Codable {
    public var username: String
    public var email: String
    public var name: String

    public init(username: String, email: String, name: String) {
        self.username = username
        self.email = email
        self.name = name
    }
}

/// A seat's life: planned at booking, deploying ahead of the session, ready when CloudStack reports it Running,
/// torn down (destroyed and expunged) after the session and its grace, failed when it could not be placed anywhere.
public enum SeatState: String, Sendable, Hashable, Codable, CaseIterable {
    case planned
    case deploying
    case ready
    case failed
    /// A teacher asked for a fresh VM: the old one is destroyed and the seat deployed again.
    case resetting
    case tearingDown = "tearing-down"
    case tornDown = "torn-down"
}

/// One VM of one session.
public struct Seat: Sendable, Hashable, Codable {
    public var bookingID: String
    public var session: Int
    public var seat: Int
    public var regionID: Int
    public var state: SeatState
    /// The CloudStack VM id once deployed.
    public var vmID: String?
    /// The VM's name, `mc-<booking>-s<session>-<seat>`: unique, so a retried deploy finds the VM it already made.
    public var vmName: String
    public var attempts: Int
    public var error: String?
    public var readyAt: String?
    public var updated: String
    /// The student the seat is assigned to (from the course's roster), if any.
    public var student: String?
    /// How the seat is reached, once its credentials are made.
    public var access: SeatAccess?

    /// `booking/session/seat`: the seat's key in tags, paths and Guacamole connection ids.
    public var path: String { "\(bookingID)/\(session)/\(seat)" }
}
