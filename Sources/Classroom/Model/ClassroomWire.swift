import Foundation

/// The shapes of the classroom scheduler's JSON API (`/api/v1/courses…`, `/api/v1/bookings…`), shared by the
/// server that answers and the CLI that asks.
public enum ClassroomWire {
    /// A course with its groups.
    public struct CourseView: Codable, Sendable {
        public var course: Course
        public var groups: [String: [Member]]

        public init(course: Course, groups: [String: [Member]]) {
            self.course = course
            self.groups = groups
        }
    }

    /// The body of `POST /api/v1/courses`.
    public struct NewCourse: Codable, Sendable {
        public var code: String
        public var title: String
        public var timeZone: String
        /// The teacher's username (admins only; a teacher creates their own courses).
        public var teacher: String?
        public var region: String?

        public init(code: String, title: String, timeZone: String, teacher: String? = nil, region: String? = nil) {
            self.code = code
            self.title = title
            self.timeZone = timeZone
            self.teacher = teacher
            self.region = region
        }
    }

    /// A booking with the state of each of its sessions.
    public struct BookingView: Codable, Sendable {
        public var booking: Booking
        public var sessions: [SessionView]

        public init(booking: Booking, sessions: [SessionView]) {
            self.booking = booking
            self.sessions = sessions
        }
    }

    public struct SessionView: Codable, Sendable {
        public var session: Int
        public var start: LocalDateTime
        public var state: SessionState
        /// Seats by state (`planned`, `deploying`, `ready`, `failed`, `tearing-down`, `torn-down`).
        public var seats: [String: Int]
        public var regions: [Int]

        public init(session: Int, start: LocalDateTime, state: SessionState, seats: [String: Int], regions: [Int]) {
            self.session = session
            self.start = start
            self.state = state
            self.seats = seats
            self.regions = regions
        }
    }

    /// A booking that fits (`201`, or `200` from a check).
    public struct Accepted: Codable, Sendable {
        public var booking: Booking
        public var placements: [Placement]

        public init(booking: Booking, placements: [Placement]) {
            self.booking = booking
            self.placements = placements
        }
    }

    /// A booking that does not fit (`409`): the error and why, with alternatives.
    public struct Refused: Codable, Sendable {
        public struct Detail: Codable, Sendable {
            public var status: Int
            public var message: String

            public init(status: Int, message: String) {
                self.status = status
                self.message = message
            }
        }
        public var error: Detail
        public var refusal: CapacityPlanner.Refusal

        public init(error: Detail, refusal: CapacityPlanner.Refusal) {
            self.error = error
            self.refusal = refusal
        }
    }

    public struct SkipRequest: Codable, Sendable {
        public var date: LocalDate
        public init(date: LocalDate) { self.date = date }
    }

    public struct Feed: Codable, Sendable {
        public var url: String
        public init(url: String) { self.url = url }
    }
}
