import Core
import Crypto
import Foundation
import SQLKit
import Storage

/// Courses, their groups and members, bookings with their sessions, placements and seats, on either storage
/// backend. Booking is one transaction that takes the scheduler's capacity lock first, so that concurrent
/// requests — on one server or several on one database — are checked one after another and never overbook.
public struct ClassroomStore: Sendable {
    public static let migrations: [Migration] = [
        Migration(
            version: 1100,
            [
                """
                CREATE TABLE classroom_courses (
                    id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, title TEXT NOT NULL, teacher TEXT NOT NULL, region TEXT,
                    time_zone TEXT NOT NULL, created TEXT NOT NULL
                )
                """,
                "CREATE INDEX classroom_courses_teacher ON classroom_courses (teacher)",
                """
                CREATE TABLE classroom_members (
                    course_id TEXT NOT NULL, group_name TEXT NOT NULL, username TEXT NOT NULL, email TEXT NOT NULL, name TEXT NOT NULL,
                    PRIMARY KEY (course_id, group_name, username)
                )
                """,
                """
                CREATE TABLE classroom_bookings (
                    id TEXT PRIMARY KEY, course_id TEXT NOT NULL, uid TEXT NOT NULL UNIQUE, title TEXT NOT NULL, template TEXT NOT NULL,
                    offering TEXT NOT NULL, seats INTEGER NOT NULL, spares INTEGER NOT NULL, time_zone TEXT NOT NULL, start_local TEXT NOT NULL,
                    duration_minutes INTEGER NOT NULL, rule TEXT NOT NULL, skipped TEXT NOT NULL, regions TEXT NOT NULL, allow_split INTEGER NOT NULL,
                    status TEXT NOT NULL, sequence INTEGER NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL
                )
                """,
                "CREATE INDEX classroom_bookings_course ON classroom_bookings (course_id)",
                """
                CREATE TABLE classroom_sessions (
                    booking_id TEXT NOT NULL, session INTEGER NOT NULL, local_start TEXT NOT NULL, start_at DOUBLE PRECISION NOT NULL,
                    end_at DOUBLE PRECISION NOT NULL, state TEXT NOT NULL, PRIMARY KEY (booking_id, session)
                )
                """,
                "CREATE INDEX classroom_sessions_start ON classroom_sessions (start_at)",
                """
                CREATE TABLE classroom_placements (
                    booking_id TEXT NOT NULL, session INTEGER NOT NULL, region_id INTEGER NOT NULL, seats INTEGER NOT NULL,
                    cpu_mhz BIGINT NOT NULL, memory_bytes BIGINT NOT NULL, start_at DOUBLE PRECISION NOT NULL, end_at DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (booking_id, session, region_id)
                )
                """,
                "CREATE INDEX classroom_placements_window ON classroom_placements (start_at, end_at)",
                """
                CREATE TABLE classroom_seats (
                    booking_id TEXT NOT NULL, session INTEGER NOT NULL, seat INTEGER NOT NULL, region_id INTEGER NOT NULL, state TEXT NOT NULL,
                    vm_id TEXT, vm_name TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT, ready_at TEXT, updated TEXT NOT NULL,
                    PRIMARY KEY (booking_id, session, seat)
                )
                """,
                "CREATE INDEX classroom_seats_state ON classroom_seats (state)",
                "CREATE TABLE classroom_feeds (hash TEXT PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL)",
                "CREATE TABLE classroom_locks (name TEXT PRIMARY KEY, generation BIGINT NOT NULL)",
                "INSERT INTO classroom_locks (name, generation) VALUES ('capacity', 0)",
            ]),
        // Slow templates: each placement's own lead, when provisioning began, and the measured time to ready.
        Migration(
            version: 1101,
            [
                "ALTER TABLE classroom_placements ADD COLUMN lead_seconds DOUBLE PRECISION",
                "ALTER TABLE classroom_sessions ADD COLUMN provisioning_at DOUBLE PRECISION",
                """
                CREATE TABLE classroom_deploy_times (
                    template TEXT NOT NULL, region_id INTEGER NOT NULL, seconds DOUBLE PRECISION NOT NULL, measured DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (template, region_id)
                )
                """,
            ]),
        // Student access: a course's allowed networks, each seat's student and access, a session's public addresses.
        Migration(
            version: 1102,
            [
                "ALTER TABLE classroom_courses ADD COLUMN allowed_networks TEXT NOT NULL DEFAULT ''",
                "ALTER TABLE classroom_seats ADD COLUMN student TEXT",
                "ALTER TABLE classroom_seats ADD COLUMN access TEXT",
                "CREATE INDEX classroom_seats_student ON classroom_seats (student)",
                """
                CREATE TABLE classroom_addresses (
                    booking_id TEXT NOT NULL, session INTEGER NOT NULL, region_id INTEGER NOT NULL, network_id TEXT NOT NULL,
                    ip_id TEXT NOT NULL, address TEXT NOT NULL, PRIMARY KEY (booking_id, session, region_id, network_id)
                )
                """,
            ]),
        // Settings of the scheduler (the campus Guacamole gateway, its key sealed).
        Migration(version: 1103, ["CREATE TABLE classroom_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)"]),
    ]

    let database: any SQLStore

    public init(database: any SQLStore) { self.database = database }

    /// Opens the store, applying its migrations.
    public static func open(database: any SQLStore) async throws -> ClassroomStore {
        try await Migrator(migrations: migrations).apply(to: database)
        return ClassroomStore(database: database)
    }

    // MARK: Courses

    /// Adds a course.
    /// - Throws: ``ClassroomError`` `invalid` for a bad code or time zone, `conflict` for a code in use.
    public func addCourse(code: String, title: String, teacher: String, region: String?, timeZone: String, now: Date) async throws -> Course {
        guard code.count <= 32, !code.isEmpty, code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw ClassroomError.invalid("course code must be 1 to 32 letters, digits, '-', '_' or '.' (e.g. EE-201)")
        }
        guard !title.isEmpty, title.count <= 200 else { throw ClassroomError.invalid("course title must be 1 to 200 characters") }
        _ = try Booking.zone(timeZone)
        let course = Course(
            id: "c-" + Self.randomID(), code: code, title: title, teacher: teacher, region: region, timeZone: timeZone,
            created: Timestamps.string(from: now))
        try await database.transaction { db in
            if try await db.raw("SELECT id FROM classroom_courses WHERE code = \(bind: code)").first() != nil {
                throw ClassroomError.conflict("Course code \(code) is taken: choose another.")
            }
            try await db.raw(
                """
                INSERT INTO classroom_courses (id, code, title, teacher, region, time_zone, created)
                VALUES (\(bind: course.id), \(bind: code), \(bind: title), \(bind: teacher), \(bind: region), \(bind: timeZone), \(bind: course.created))
                """
            ).run()
        }
        return course
    }

    /// A course by id or code.
    /// - Throws: ``ClassroomError`` `notFound`.
    public func course(_ idOrCode: String) async throws -> Course {
        let row = try await database.withDatabase { db in
            try await db.raw("SELECT * FROM classroom_courses WHERE id = \(bind: idOrCode) OR code = \(bind: idOrCode)").first()
        }
        guard let row else { throw ClassroomError.notFound("course \(idOrCode)") }
        return try Self.course(row)
    }

    /// Every course, or one teacher's, or one region's.
    public func courses(teacher: String? = nil, region: String? = nil) async throws -> [Course] {
        try await database.withDatabase { db in
            try await db.raw("SELECT * FROM classroom_courses ORDER BY code").all().map(Self.course).filter {
                (teacher == nil || $0.teacher == teacher) && (region == nil || $0.region == region)
            }
        }
    }

    static func course(_ row: any SQLRow) throws -> Course {
        Course(
            id: try row.decode(column: "id", as: String.self), code: try row.decode(column: "code", as: String.self),
            title: try row.decode(column: "title", as: String.self), teacher: try row.decode(column: "teacher", as: String.self),
            region: try row.decode(column: "region", as: String?.self), timeZone: try row.decode(column: "time_zone", as: String.self),
            created: try row.decode(column: "created", as: String.self),
            allowedNetworks: (try row.decode(column: "allowed_networks", as: String?.self) ?? "").split(separator: ",").map(String.init))
    }

    // MARK: Groups

    /// Replaces (or creates) a group's members.
    public func setMembers(course: String, group: String, _ members: [Member]) async throws {
        guard !group.isEmpty, group.count <= 64 else { throw ClassroomError.invalid("group name must be 1 to 64 characters") }
        let course = try await self.course(course)
        try await database.transaction { db in
            try await db.raw("DELETE FROM classroom_members WHERE course_id = \(bind: course.id) AND group_name = \(bind: group)").run()
            for member in members {
                try await db.raw(
                    """
                    INSERT INTO classroom_members (course_id, group_name, username, email, name)
                    VALUES (\(bind: course.id), \(bind: group), \(bind: member.username), \(bind: member.email), \(bind: member.name))
                    """
                ).run()
            }
        }
    }

    /// A course's groups and their members.
    public func groups(course: String) async throws -> [String: [Member]] {
        let course = try await self.course(course)
        let rows = try await database.withDatabase { db in
            try await db.raw("SELECT * FROM classroom_members WHERE course_id = \(bind: course.id) ORDER BY group_name, username").all()
        }
        var groups: [String: [Member]] = [:]
        for row in rows {
            groups[try row.decode(column: "group_name", as: String.self), default: []].append(
                Member(
                    username: try row.decode(column: "username", as: String.self), email: try row.decode(column: "email", as: String.self),
                    name: try row.decode(column: "name", as: String.self)))
        }
        return groups
    }

    // MARK: Calendar feeds

    /// A new secret feed token for a course (`course`) or a teacher (`teacher`); the old one stops working.
    /// Only its hash is kept: the token is shown once.
    public func newFeedToken(kind: String, subject: String) async throws -> String {
        let token = Self.randomID(bytes: 24)
        try await database.transaction { db in
            try await db.raw("DELETE FROM classroom_feeds WHERE kind = \(bind: kind) AND subject = \(bind: subject)").run()
            try await db.raw(
                "INSERT INTO classroom_feeds (hash, kind, subject) VALUES (\(bind: Self.hash(token)), \(bind: kind), \(bind: subject))"
            ).run()
        }
        return token
    }

    /// What a feed token opens (`kind`, `subject`), or nil.
    public func feed(token: String) async throws -> (kind: String, subject: String)? {
        guard token.count <= 128 else { return nil }
        return try await database.withDatabase { db in
            try await db.raw("SELECT kind, subject FROM classroom_feeds WHERE hash = \(bind: Self.hash(token))").first().map {
                (try $0.decode(column: "kind", as: String.self), try $0.decode(column: "subject", as: String.self))
            }
        }
    }

    static func hash(_ token: String) -> String { SHA256.hash(data: Array(token.utf8)).hexString }

    static func randomID(bytes: Int = 8) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
