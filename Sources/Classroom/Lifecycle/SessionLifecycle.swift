import CloudStack
import Core
import Federation
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization

/// Brings every session's seats up ahead of its start and takes them down after its end: each tick it provisions
/// sessions whose lead time has begun (`deployVirtualMachine` per seat, named and tagged so a VM is found again
/// after a restart, a bounded number at once per region), marks seats ready when CloudStack reports them
/// Running, moves seats a region keeps failing to another region that has room, destroys with expunge what is
/// over (a stopped VM would keep counting against capacity), and sweeps VMs whose seats are gone. It runs once
/// across instances, under a lease; all state is in the database, so a restart or a takeover resumes.
public struct SessionLifecycle: Service {
    public struct Configuration: Sendable {
        public var leadSeconds: Double = 1800
        public var graceSeconds: Double = 900
        public var tickSeconds: Double = 15
        /// Deploys at once per region (no boot storm).
        public var perRegion = 5
        /// Failed deploys of a seat in one region before it moves to another.
        public var attemptsPerRegion = 2
        /// Every this many ticks, the orphan sweep.
        public var sweepEvery = 20
        public var leaseSeconds: Double = 60
        public var instance = LeaseStore.processHolder
        public var planning = CapacityPlanner.Configuration()

        public init() {}
    }

    /// The lease that makes the engine run on one instance.
    public static let leaseName = "classroom-lifecycle"
    /// Tags on every seat's VM.
    public static let bookingTag = "mclouds.booking"
    public static let sessionTag = "mclouds.session"
    public static let seatTag = "mclouds.seat"

    public let store: ClassroomStore
    public let leases: LeaseStore
    public let clouds: any ClassroomClouds
    public let clock: any WallClock
    public let configuration: Configuration
    /// Seals the seats' passwords; without it seats get no credentials and no forwarded port.
    public let secrets: SecretBox?
    let logger: Logger
    private let ticks = TickCounter()

    public init(
        store: ClassroomStore, leases: LeaseStore, clouds: any ClassroomClouds, clock: any WallClock = SystemWallClock(),
        configuration: Configuration = .init(), secrets: SecretBox? = nil, logger: Logger
    ) {
        self.secrets = secrets
        self.store = store
        self.leases = leases
        self.clouds = clouds
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        // Ends on graceful shutdown (SIGTERM) as on cancellation: a tick in flight is cancelled, its state is in the database.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    _ = try await tick()
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("classroom lifecycle tick failed", metadata: ["error": "\(error)"])
                }
                do { try await clock.sleep(seconds: configuration.tickSeconds) } catch { break }
            }
        }
        // A clean stop hands the work over at once instead of after the lease time (the state is all in the database).
        do {
            try await leases.release(Self.leaseName, holder: configuration.instance)
        } catch {
            logger.warning("classroom lifecycle lease not released", metadata: ["error": "\(error)"])
        }
    }

    /// What one tick did.
    public struct TickReport: Sendable, Hashable {
        public var held = false
        public var deployed = 0
        public var ready = 0
        public var failed = 0
        public var moved = 0
        public var tornDown = 0
        public var swept = 0
    }

    /// One pass: provision, check, move, tear down (and every ``Configuration/sweepEvery`` ticks, sweep). Does
    /// nothing while another instance holds the lease.
    @discardableResult
    public func tick() async throws -> TickReport {
        var report = TickReport()
        let now = clock.now()
        guard try await leases.acquire(Self.leaseName, holder: configuration.instance, now: now, duration: configuration.leaseSeconds) != nil else {
            return report
        }
        report.held = true
        let due = try await store.dueSessions(now: now, lead: configuration.leadSeconds, grace: configuration.graceSeconds)
        for session in due.provision { try await store.startProvisioning(booking: session.bookingID, session: session.session, now: now) }
        for session in try await store.liveSessions() where session.end.timeIntervalSince1970 + configuration.graceSeconds > now.timeIntervalSince1970
        {
            let booking = try await store.booking(session.bookingID)
            let outcome = try await provision(booking, session)
            report.deployed += outcome.deployed
            report.ready += outcome.ready
            report.failed += outcome.failed
            report.moved += outcome.moved
        }
        for session in due.tearDown { report.tornDown += try await tearDown(session) }
        if ticks.next() % configuration.sweepEvery == 0 { report.swept = try await sweep() }
        return report
    }

    // MARK: Provisioning

    struct Outcome {
        var deployed = 0
        var ready = 0
        var failed = 0
        var moved = 0
    }

    private func provision(_ booking: Booking, _ session: SessionRecord) async throws -> Outcome {
        try await store.assignStudents(booking: booking.id, session: session.session)
        let course = try await store.course(booking.courseID)
        let seats = try await store.seats(booking: booking.id, session: session.session)
        let byRegion = Dictionary(grouping: seats.filter { [.planned, .deploying, .resetting].contains($0.state) }, by: \.regionID)
        let results = await withTaskGroup(of: [SeatResult].self) { group in
            for (region, seats) in byRegion {
                group.addTask {
                    let resolved: Result<Resolved, any Error>
                    do { resolved = .success(try await resolve(region: region, booking: booking)) } catch { resolved = .failure(error) }
                    let addresses = (try? resolved.get()).map {
                        AddressBook(
                            store: store, bookingID: booking.id, session: session.session, regionID: region, client: $0.client, logger: logger)
                    }
                    return await concurrentMap(seats, limit: configuration.perRegion) { seat in
                        await advance(seat, booking: booking, course: course, resolved: resolved, addresses: addresses)
                    }
                }
            }
            var all: [SeatResult] = []
            for await part in group { all += part }
            return all
        }
        var outcome = Outcome()
        for result in results {
            switch result {
            case .deployed: outcome.deployed += 1
            case .ready: outcome.ready += 1
            case .waiting: break
            case .failed(let seat): if try await relocate(seat, booking: booking) { outcome.moved += 1 } else { outcome.failed += 1 }
            }
        }
        let after = try await store.seats(booking: booking.id, session: session.session)
        if !after.isEmpty, after.allSatisfy({ $0.state == .ready }), session.state != .ready {
            try await store.setState(.ready, booking: booking.id, session: session.session)
            try await store.recordTimeToReady(
                template: booking.template, booking: booking.id, session: session.session, regions: Set(after.map(\.regionID)), now: clock.now())
            logger.info(
                "session ready", metadata: ["booking.id": "\(booking.id)", "booking.session": "\(session.session)", "seats": "\(after.count)"])
        }
        return outcome
    }

    enum SeatResult {
        case deployed
        case ready
        case waiting
        case failed(Seat)
    }

    struct Resolved: Sendable {
        var client: CloudStackClient
        var templateID: String
        var offeringID: String
        var zoneID: String
        /// The network seats are deployed on, and how their guests are reached (from the template's OS type).
        var networkID: String?
        var service: ServiceProbe.Service
    }

    /// The region's client, and the CloudStack ids of the booking's template (the newest Ready copy an agent
    /// registered and tagged), offering and zone.
    private func resolve(region: Int, booking: Booking) async throws -> Resolved {
        let client = try await clouds.client(region: region)
        let templates = try await client.listTemplates(
            filter: .all, tags: [ResourceTag(key: "mclouds.template", value: booking.template)], logger: logger
        ).filter { $0.isready == true }
        guard let template = templates.max(by: { ($0.created?.description ?? "") < ($1.created?.description ?? "") }), let templateID = template.id
        else { throw ClassroomError.cloud("Template \(booking.template) is not Ready in region \(region): its site agent has not synced it.") }
        guard
            let offering = try await client.listServiceOfferings(name: booking.offering, logger: logger).first(where: { $0.name == booking.offering }
            ),
            let offeringID = offering.id
        else { throw ClassroomError.cloud("Region \(region) has no service offering \(booking.offering).") }
        var zone = template.zoneid
        if zone == nil { zone = try await client.listZones(logger: logger).first?.id }
        guard let zoneID = zone else { throw ClassroomError.cloud("Region \(region) has no zone.") }
        let networks = try await client.listNetworks(zoneID: zoneID, logger: logger)
        return Resolved(
            client: client, templateID: templateID, offeringID: offeringID, zoneID: zoneID, networkID: networks.first?.id,
            service: GuestSetup.service(osTypeName: template.ostypename))
    }

    /// One step for one seat: find or deploy its VM, or see whether it runs.
    private func advance(
        _ seat: Seat, booking: Booking, course: Course, resolved: Result<Resolved, any Error>, addresses: AddressBook?
    ) async -> SeatResult {
        var seat = seat
        let metadata: Logger.Metadata = [
            "booking.id": "\(seat.bookingID)", "booking.session": "\(seat.session)", "seat": "\(seat.seat)", "region.id": "\(seat.regionID)",
        ]
        do {
            let resolved = try resolved.get()
            let client = resolved.client
            if seat.state == .resetting { try await clear(&seat, client: client) }
            let credentials = try await credentials(for: seat, resolved: resolved)
            // A VM of this name may exist from a deploy whose answer was lost (a restart, a takeover): adopt it.
            if seat.vmID == nil,
                let existing = try await client.listVirtualMachines(name: seat.vmName, logger: logger).first(where: { $0.name == seat.vmName })
            {
                seat.vmID = existing.id
            }
            if seat.vmID == nil {
                seat.state = .deploying
                seat.updated = Timestamps.string(from: clock.now())
                try await store.update(seat)
                var request = DeployVirtualMachineRequest(
                    zoneID: resolved.zoneID, templateID: resolved.templateID, serviceOfferingID: resolved.offeringID)
                request.name = seat.vmName
                request.displayName = "\(booking.title) — seat \(seat.seat + 1)"
                request.startVM = true
                if let network = resolved.networkID { request.networkIDs = [network] }
                if let credentials {
                    let text = GuestSetup.userData(
                        for: credentials.access.service, username: credentials.access.username, password: credentials.password)
                    request.userData = Data(text.utf8).base64EncodedString()
                }
                let vm = try await client.deployVirtualMachine(request, logger: logger)
                seat.vmID = vm.id
                if let id = vm.id {
                    try await client.createTags(
                        resourceIDs: [id], resourceType: "UserVm",
                        tags: [
                            ResourceTag(key: Self.bookingTag, value: seat.bookingID), ResourceTag(key: Self.sessionTag, value: String(seat.session)),
                            ResourceTag(key: Self.seatTag, value: String(seat.seat)),
                        ], logger: logger)
                }
                seat.updated = Timestamps.string(from: clock.now())
                try await store.update(seat)
                logger.info("seat deployed", metadata: metadata)
                if vm.state == "Running", let addresses {
                    try await openAccess(seat, access: credentials?.access, vm: vm, course: course, resolved: resolved, addresses: addresses)
                    return try await markReady(seat)
                }
                return .deployed
            }
            guard let vm = try await client.listVirtualMachines(id: seat.vmID, logger: logger).first else {
                seat.vmID = nil
                throw ClassroomError.cloud("the seat's VM \(seat.vmName) disappeared")
            }
            switch vm.state {
            case "Running":
                if let addresses {
                    try await openAccess(seat, access: credentials?.access, vm: vm, course: course, resolved: resolved, addresses: addresses)
                }
                return try await markReady(seat)
            case "Error", "Destroyed", "Expunging":
                if let id = vm.id { _ = try? await client.destroyVirtualMachine(id: id, expunge: true, logger: logger) }
                seat.vmID = nil
                throw ClassroomError.cloud("the seat's VM \(seat.vmName) went to \(vm.state ?? "?")")
            default: return .waiting
            }
        } catch {
            seat.attempts += 1
            seat.error = "\(error)"
            seat.state = .planned
            seat.vmID = nil
            seat.updated = Timestamps.string(from: clock.now())
            try? await store.update(seat)
            logger.warning("seat deploy failed", metadata: metadata.merging(["error": "\(error)", "attempt": "\(seat.attempts)"]) { a, _ in a })
            return seat.attempts >= configuration.attemptsPerRegion ? .failed(seat) : .waiting
        }
    }

    /// A reset: the seat's rules and VM go; it is deployed again with the same student and credentials.
    private func clear(_ seat: inout Seat, client: CloudStackClient) async throws {
        try await closeAccess(seat, client: client)
        var ids = seat.vmID.map { [$0] } ?? []
        ids += try await client.listVirtualMachines(name: seat.vmName, logger: logger).filter { $0.name == seat.vmName }.compactMap(\.id)
        for id in Set(ids) { _ = try await destroy(id, client) }
        let fresh = try await store.seats(booking: seat.bookingID, session: seat.session).first { $0.seat == seat.seat }
        seat.access = fresh?.access
        seat.vmID = nil
        seat.state = .planned
        seat.updated = Timestamps.string(from: clock.now())
        try await store.update(seat)
        logger.notice("seat reset", metadata: ["booking.id": "\(seat.bookingID)", "seat": "\(seat.seat)"])
    }

    private func markReady(_ seat: Seat) async throws -> SeatResult {
        var seat = seat
        seat.state = .ready
        seat.readyAt = Timestamps.string(from: clock.now())
        seat.updated = seat.readyAt!
        seat.error = nil
        try await store.update(seat)
        return .ready
    }

    /// Moves a seat its region keeps failing to another region with room, if any; else marks it failed.
    private func relocate(_ seat: Seat, booking: Booking) async throws -> Bool {
        let capacities = (try? await clouds.capacities(template: booking.template, offering: booking.offering)) ?? []
        let others = capacities.filter { $0.regionID != seat.regionID }
        let sessions = try booking.sessions().filter { $0.index == seat.session }
        let margin = configuration.planning.widestMargin
        var overlapping: [Reservation] = []
        if let session = sessions.first {
            overlapping = try await store.reservations(from: session.start.addingTimeInterval(-margin), to: session.end.addingTimeInterval(margin))
        }
        let index = ReservationIndex(overlapping, lead: configuration.planning.leadSeconds, grace: configuration.planning.graceSeconds)
        let planner = CapacityPlanner(regions: others, reservations: index, configuration: configuration.planning)
        let request = CapacityPlanner.Request(bookingID: "relocation", sessions: sessions, seats: 1, regions: [], allowSplit: false)
        guard case .accepted(let placements) = planner.plan(request), let target = placements.first else {
            var failed = seat
            failed.state = .failed
            failed.updated = Timestamps.string(from: clock.now())
            try await store.update(failed)
            logger.error("seat could not be placed anywhere", metadata: ["booking.id": "\(seat.bookingID)", "seat": "\(seat.seat)"])
            return false
        }
        try await store.move(seat, to: target.regionID, size: target.size, now: clock.now())
        logger.notice(
            "seat moved to another region",
            metadata: ["booking.id": "\(seat.bookingID)", "seat": "\(seat.seat)", "from": "\(seat.regionID)", "to": "\(target.regionID)"])
        return true
    }

    // MARK: Teardown

    /// Destroys (with expunge) every standing seat of a session that is over, cancelled or skipped.
    private func tearDown(_ session: SessionRecord) async throws -> Int {
        let seats = try await store.seats(booking: session.bookingID, session: session.session).filter { $0.state != .tornDown }
        // Seats go a few at once per region; their rules go with the session's addresses, released after them.
        let done = await concurrentMap(seats, limit: configuration.perRegion * max(1, Set(seats.map(\.regionID)).count)) { seat in
            await tearDown(seat)
        }
        let count = done.filter { $0 }.count
        var left = seats.count - count
        if left == 0 { left = await releaseAddresses(booking: session.bookingID, session: session.session) }
        if left == 0, session.state == .provisioning || session.state == .ready {
            try await store.setState(.ended, booking: session.bookingID, session: session.session)
        }
        return count
    }

    /// Destroys one seat's VM (found by name if its id was never recorded) and marks it torn down.
    private func tearDown(_ seat: Seat) async -> Bool {
        var seat = seat
        do {
            let client = try await clouds.client(region: seat.regionID)
            var ids = seat.vmID.map { [$0] } ?? []
            if ids.isEmpty {
                ids = try await client.listVirtualMachines(name: seat.vmName, logger: logger).filter { $0.name == seat.vmName }.compactMap(\.id)
            }
            for id in ids { _ = try await destroy(id, client) }
            seat.state = .tornDown
            seat.updated = Timestamps.string(from: clock.now())
            try await store.update(seat)
            return true
        } catch {
            logger.warning(
                "seat teardown failed; retried next tick", metadata: ["booking.id": "\(seat.bookingID)", "seat": "\(seat.seat)", "error": "\(error)"])
            return false
        }
    }

    /// Destroys and expunges a VM; one already gone counts as done.
    private func destroy(_ id: String, _ client: CloudStackClient) async throws -> Bool {
        guard try await client.listVirtualMachines(id: id, logger: logger).first != nil else { return false }
        _ = try await client.destroyVirtualMachine(id: id, expunge: true, logger: logger)
        return true
    }

    /// Destroys VMs tagged (or named) as seats whose seat is gone, torn down, or of a session that is over.
    func sweep() async throws -> Int {
        let seats = try await store.standingSeats()
        let standing = Set(seats.map(\.path))
        var swept = await sweepAddresses(standingSessions: Set(seats.map { "\($0.bookingID)/\($0.session)" }))
        for region in try await clouds.regionIDs() {
            guard let client = try? await clouds.client(region: region), let vms = try? await client.listVirtualMachines(logger: logger) else {
                continue
            }
            for vm in vms {
                guard let id = vm.id else { continue }
                let tags = Dictionary((vm.tags ?? []).compactMap { tag in tag.key.map { ($0, tag.value ?? "") } }, uniquingKeysWith: { a, _ in a })
                let key: String
                if let booking = tags[Self.bookingTag], let session = tags[Self.sessionTag], let seat = tags[Self.seatTag] {
                    key = "\(booking)/\(session)/\(seat)"
                } else if let name = vm.name, name.hasPrefix("mc-b-"), let parsed = Self.parse(name) {
                    key = parsed
                } else {
                    continue
                }
                guard !standing.contains(key) else { continue }
                if (try? await destroy(id, client)) == true {
                    swept += 1
                    logger.notice("orphan seat VM destroyed", metadata: ["region.id": "\(region)", "vm.name": "\(vm.name ?? id)"])
                }
            }
        }
        return swept
    }

    /// `booking/session/seat` from a seat VM's name.
    static func parse(_ name: String) -> String? {
        let parts = name.dropFirst(3).split(separator: "-")
        guard parts.count == 4, parts[0] == "b", parts[2].hasPrefix("s"), let session = Int(parts[2].dropFirst()), let seat = Int(parts[3]) else {
            return nil
        }
        return "b-\(parts[1])/\(session)/\(seat)"
    }
}

/// Counts ticks (for the periodic sweep) across copies of the service value.
final class TickCounter: Sendable {
    private let value = Mutex<Int>(0)
    func next() -> Int {
        value.withLock {
            $0 += 1; return $0
        }
    }
}
