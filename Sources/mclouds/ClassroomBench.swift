import ArgumentParser
import Classroom
import CloudStack
import CloudStackSimulator
import Core
import Crypto
import Federation
import Foundation
import Logging
import Server
import Storage

/// `mclouds bench classroom`: the scheduler's feasibility check and re-planning against a loaded federation, and
/// the lifecycle's time from the lead's start to every seat Running, each beside the plain way of doing it.
struct ClassroomBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classroom",
        abstract: "Booking checks and re-planning against 1,000 bookings; time to ready for 200 seats over 3 simulated regions.",
        discussion: "  mclouds bench classroom --bookings 1000 --regions 6 --checks 200 --seats 200")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Existing bookings (term-long weekly series).") var bookings = 1_000
    @Option(help: "Regions.") var regions = 6
    @Option(help: "Feasibility checks timed.") var checks = 200
    @Option(help: "Seats provisioned in the lifecycle run (0 skips it).") var seats = 200
    @Option(help: "Simulated regions the seats go to.") var seatRegions = 3
    @Option(help: "Milliseconds each simulated async job takes.") var jobMs = 500

    func run() async throws {
        var logger = global.makeLogger(label: "mclouds.bench")
        logger.logLevel = .warning
        let capacities = (1...regions).map { id in
            // A region of 400 hosts × 32 cores × 2.6 GHz, 512 GiB each; seats of 2 vCPU × 2 GHz, 4 GiB.
            RegionCapacity(
                regionID: id, name: "R\(id)", cpuMHz: 400 * 32 * 2600, cpuMHzUsed: 400 * 32 * 2600 / 5, memoryBytes: 400 * (512 << 30),
                memoryBytesUsed: 400 * (512 << 30) / 5, seatSize: SeatSize(cpuMHz: 4000, memoryBytes: 4 << 30), templateReady: true)
        }
        var generator = SplitMix64(seed: 42)
        let benchCourse = Course(id: "c", code: "BENCH", title: "Bench", teacher: "t", region: nil, timeZone: "Europe/Budapest", created: "")
        let days: [Weekday] = [.monday, .tuesday, .wednesday, .thursday, .friday]
        func series(_ index: Int, seats: Int? = nil) throws -> (CapacityPlanner.Request, Booking) {
            let day = days[Int(generator.next() % 5)]
            let hour = 8 + Int(generator.next() % 10)
            let monday = LocalDate("2027-02-15")!
            let first = monday.adding(days: day.index)
            let request = BookingRequest(
                title: "Lab", template: "t", offering: "o", seats: seats ?? (10 + Int(generator.next() % 31)),
                start: LocalDateTime(year: first.year, month: first.month, day: first.day, hour: hour, minute: 0), durationMinutes: 90,
                rrule: "FREQ=WEEKLY;BYDAY=\(day.rawValue);COUNT=15", allowSplit: true)
            let booking = try request.booking(id: "bench-\(index)", course: benchCourse, now: Date())
            return (
                CapacityPlanner.Request(
                    bookingID: booking.id, sessions: try booking.sessions(), seats: booking.totalSeats, regions: [], allowSplit: true),
                booking
            )
        }
        var existing: [CapacityPlanner.Request] = []
        for index in 0..<bookings { existing.append(try series(index).0) }

        // Re-planning: every booking placed again from nothing, one after another, each against those before it.
        let planning = CapacityPlanner.Configuration()
        let replanStarted = ContinuousClock.now
        var index = ReservationIndex(lead: planning.leadSeconds, grace: planning.graceSeconds)
        var reservations: [Reservation] = []
        var refused = 0
        for request in existing {
            let planner = CapacityPlanner(regions: capacities, reservations: index, configuration: planning)
            switch planner.plan(request) {
            case .accepted(let placements):
                for placement in placements {
                    let session = request.sessions[placement.session]
                    let reservation = Reservation(
                        bookingID: request.bookingID, session: placement.session, regionID: placement.regionID, start: session.start,
                        end: session.end, seats: placement.seats, size: placement.size)
                    index.insert(reservation)
                    reservations.append(reservation)
                }
            case .refused: refused += 1
            }
        }
        let replan = ContinuousClock.now - replanStarted
        Console.line(
            "federation: \(regions) regions; \(bookings) weekly bookings × 15 sessions (10–40 seats) → \(reservations.count) reservations, \(refused) refused"
        )
        Console.line("re-planning all \(bookings) bookings: \(Tools.format(replan)) (target ≤ 2 s)")

        // Feasibility of a term-long 15 × 40 booking: the planner (index + sweep) against a scan of every
        // reservation for each session (what a query-per-check without the index does).
        var plannerTimes: [Duration] = []
        var scanTimes: [Duration] = []
        var agreed = 0
        for check in 0..<checks {
            let (request, _) = try series(100_000 + check, seats: 40)
            let started = ContinuousClock.now
            let outcome = CapacityPlanner(regions: capacities, reservations: index, configuration: planning).plan(request)
            plannerTimes.append(ContinuousClock.now - started)
            let scanStarted = ContinuousClock.now
            let scanFits = Self.scanFits(request, capacities: capacities, reservations: reservations, planning: planning)
            scanTimes.append(ContinuousClock.now - scanStarted)
            if case .accepted = outcome { if scanFits { agreed += 1 } } else if !scanFits { agreed += 1 }
        }
        Console.line(
            "feasibility of 15 × 40 seats (\(checks) checks)   planner: p50 \(Tools.format(Tools.percentile(plannerTimes, 0.5))) p99 \(Tools.format(Tools.percentile(plannerTimes, 0.99)))   (target p99 ≤ 50 ms)"
        )
        Console.line(
            "                                       full scan: p50 \(Tools.format(Tools.percentile(scanTimes, 0.5))) p99 \(Tools.format(Tools.percentile(scanTimes, 0.99)))   ratio scan/planner at p50: \(String(format: "%.1f", Tools.ratio(Tools.percentile(scanTimes, 0.5), Tools.percentile(plannerTimes, 0.5))))   answers agree: \(agreed)/\(checks)"
        )

        // The same check through the store (SQLite): the window's reservations read, the plan, no write.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mclouds-bench-classroom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let database = try await SQLiteStore.open(path: root.appendingPathComponent("classroom.sqlite").path, migrations: [LeaseStore.migration])
        let store = try await ClassroomStore.open(database: database)
        let course = try await store.addCourse(code: "BENCH", title: "Bench", teacher: "t", region: nil, timeZone: "Europe/Budapest", now: Date())
        var loaded = 0
        for number in 0..<bookings {
            var (_, booking) = try series(200_000 + number)
            booking.courseID = course.id
            if case .accepted = try await store.book(booking, regions: capacities, planning: planning) { loaded += 1 }
        }
        var storeTimes: [Duration] = []
        for check in 0..<min(checks, 100) {
            var (_, booking) = try series(300_000 + check, seats: 40)
            booking.courseID = course.id
            let started = ContinuousClock.now
            _ = try await store.book(booking, regions: capacities, planning: planning, write: false)
            storeTimes.append(ContinuousClock.now - started)
        }
        Console.line(
            "through the store (SQLite, \(loaded) bookings held): p50 \(Tools.format(Tools.percentile(storeTimes, 0.5))) p99 \(Tools.format(Tools.percentile(storeTimes, 0.99)))"
        )
        if seats > 0 { try await timeToReady(logger: logger) }
    }

    /// Whether every session fits somewhere (split allowed), scanning every reservation per session and region.
    static func scanFits(
        _ request: CapacityPlanner.Request, capacities: [RegionCapacity], reservations: [Reservation], planning: CapacityPlanner.Configuration
    ) -> Bool {
        for session in request.sessions where !session.skipped {
            let from = session.start.timeIntervalSince1970 - planning.leadSeconds
            let to = session.end.timeIntervalSince1970 + planning.graceSeconds
            var room = 0
            for region in capacities {
                var events: [(Double, Int64, Int64)] = []
                for r in reservations where r.regionID == region.regionID {
                    let start = r.start.timeIntervalSince1970 - planning.leadSeconds
                    let end = r.end.timeIntervalSince1970 + planning.graceSeconds
                    guard start < to, end > from else { continue }
                    events.append((max(start, from), Int64(r.seats) * r.size.cpuMHz, Int64(r.seats) * r.size.memoryBytes))
                    events.append((min(end, to), -Int64(r.seats) * r.size.cpuMHz, -Int64(r.seats) * r.size.memoryBytes))
                }
                events.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
                var cpu: Int64 = 0
                var memory: Int64 = 0
                var peakCPU: Int64 = 0
                var peakMemory: Int64 = 0
                for event in events {
                    cpu += event.1
                    memory += event.2
                    peakCPU = max(peakCPU, cpu)
                    peakMemory = max(peakMemory, memory)
                }
                let size = region.seatSize!
                let cpuLeft = Int64(Double(region.cpuMHz) * planning.headroom) - region.cpuMHzUsed - peakCPU
                let memoryLeft = Int64(Double(region.memoryBytes) * planning.headroom) - region.memoryBytesUsed - peakMemory
                room += Int(max(0, min(cpuLeft / size.cpuMHz, memoryLeft / size.memoryBytes)))
            }
            if room < request.seats { return false }
        }
        return true
    }

    /// 200 seats over 3 simulated regions: the lifecycle (bounded concurrency per region) from the lead's start to
    /// every seat Running, against deploying the same seats one after another (a script over the API).
    func timeToReady(logger: Logger) async throws {
        let simulators = try (1...seatRegions).map { id in
            var c = SimulatorConfiguration.default(regionName: "R\(id)")
            c.regionID = id
            c.zones[0].hostCount = 40
            c.jobDurationMilliseconds = jobMs
            return try Simulator(configuration: c, logger: logger)
        }
        try await ServiceScope.withRunning(simulators, logger: logger, ready: { for s in simulators { _ = await s.waitUntilRunning() } }) {
            let clouds = BenchClouds(simulators: Dictionary(uniqueKeysWithValues: simulators.map { ($0.configuration.regionID, $0) }))
            for region in try await clouds.regionIDs() {
                let client = try await clouds.client(region: region)
                guard let template = try await client.listTemplates(filter: .all, logger: logger).first(where: { $0.isready == true }) else {
                    throw CLIError("the simulator has no ready template")
                }
                try await client.createTags(
                    resourceIDs: [template.id!], resourceType: "Template", tags: [ResourceTag(key: "mclouds.template", value: "bench")],
                    logger: logger)
            }
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("mclouds-bench-lifecycle-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: root) }
            let database = try await SQLiteStore.open(path: root.appendingPathComponent("classroom.sqlite").path, migrations: [LeaseStore.migration])
            let store = try await ClassroomStore.open(database: database)
            let course = try await store.addCourse(code: "LAB", title: "Lab", teacher: "t", region: nil, timeZone: "UTC", now: Date())
            // Every seat gets its student, password and a forwarded SSH port open to loopback.
            _ = try await store.setAllowedNetworks(course: course.id, ["127.0.0.0/8"])
            try await store.setMembers(
                course: course.id, group: "all", (0..<seats).map { Member(username: "s\($0)", email: "s\($0)@uni.example", name: "S\($0)") })
            let start = Date().addingTimeInterval(3 * 86_400)
            let local = LocalDateTime.of(start, in: TimeZone(identifier: "UTC")!)
            let perRegion = seats / seatRegions
            var booked: [Booking] = []
            for region in 1...seatRegions {
                let count = region == seatRegions ? seats - perRegion * (seatRegions - 1) : perRegion
                let request = BookingRequest(
                    title: "Lab", template: "bench", offering: "Small Instance", seats: count, spares: 0,
                    start: LocalDateTime(year: local.year, month: local.month, day: local.day, hour: local.hour, minute: local.minute),
                    durationMinutes: 90, regions: [region])
                let booking = try request.booking(id: ClassroomStore.newBookingID(), course: course, now: Date())
                guard
                    case .accepted = try await store.book(
                        booking, regions: try await clouds.capacities(template: "", offering: ""), planning: .init())
                else { throw CLIError("the bench booking does not fit") }
                booked.append(booking)
            }
            let sessionStart = try booked[0].sessions()[0].start
            // The clock stands at the lead's start and runs at real speed from there.
            let clock = ScaledWallClock(start: sessionStart.addingTimeInterval(-1800), factor: 1)
            var configuration = SessionLifecycle.Configuration()
            configuration.sweepEvery = 1_000_000
            let engine = SessionLifecycle(
                store: store, leases: LeaseStore(store: database), clouds: clouds, clock: clock, configuration: configuration,
                secrets: SecretBox(key: SymmetricKey(size: .bits256)), logger: logger)
            let progress = ProgressBar(label: "seats ready", total: Int64(seats))
            let started = ContinuousClock.now
            var ready = 0
            while ready < seats {
                try await engine.tick()
                ready = 0
                for booking in booked { ready += try await store.seats(booking: booking.id, session: 0).filter { $0.state == .ready }.count }
                progress.update(Int64(ready))
                if ContinuousClock.now - started > .seconds(900) { throw CLIError("the seats were not ready in 15 minutes") }
            }
            progress.finish()
            let lifecycle = ContinuousClock.now - started
            var all: [Seat] = []
            for booking in booked { all += try await store.seats(booking: booking.id, session: 0) }
            let answers = await concurrentMap(all, limit: 32) { seat -> Bool in
                guard let access = seat.access, let address = access.address, let port = access.port else { return false }
                return await ServiceProbe.probe(host: address, port: port, service: access.service).answered
            }
            let answered = answers.filter { $0 }.count

            // The plain way: one deploy after another, each waiting for its job.
            let serialStarted = ContinuousClock.now
            let serialProgress = ProgressBar(label: "serial deploys", total: Int64(seats))
            var done = 0
            for region in 1...seatRegions {
                let client = try await clouds.client(region: region)
                let template = try await client.listTemplates(
                    filter: .all, tags: [ResourceTag(key: "mclouds.template", value: "bench")], logger: logger)[0]
                let offering = try await client.listServiceOfferings(name: "Small Instance", logger: logger)[0]
                let count = region == seatRegions ? seats - perRegion * (seatRegions - 1) : perRegion
                let network = try await client.listNetworks(zoneID: template.zoneid, logger: logger).first?.id
                let ip = try await client.associateIpAddress(networkID: network, logger: logger)
                for number in 0..<count {
                    var request = DeployVirtualMachineRequest(zoneID: template.zoneid!, templateID: template.id!, serviceOfferingID: offering.id!)
                    request.name = "serial-\(region)-\(number)"
                    let vm = try await client.deployVirtualMachine(request, logger: logger)
                    // …and its SSH port, as a script would open it.
                    _ = try await client.createPortForwardingRule(
                        ipAddressID: ip.id!, publicPort: 30000 + number, privatePort: 22, virtualMachineID: vm.id!, openFirewall: false,
                        logger: logger)
                    _ = try await client.createFirewallRule(
                        ipAddressID: ip.id!, startPort: 30000 + number, endPort: 30000 + number, cidrList: ["127.0.0.0/8"], logger: logger)
                    done += 1
                    serialProgress.update(Int64(done))
                }
            }
            serialProgress.finish()
            let serial = ContinuousClock.now - serialStarted
            Console.line(
                "time to ready and reachable, \(seats) seats over \(seatRegions) simulated regions (jobs \(jobMs) ms; \(answered)/\(seats) answer SSH on their forwarded port): lifecycle \(Tools.format(lifecycle)) (\(String(format: "%.1f", lifecycle / .seconds(1) / 60 * 100 / 30)) % of the 30-minute lead)   one-by-one deploys and rules: \(Tools.format(serial))   ratio \(String(format: "%.1f", Tools.ratio(serial, lifecycle)))"
            )
        }
    }

}

/// Simulated regions with room for every seat.
struct BenchClouds: ClassroomClouds {
    let simulators: [Int: Simulator]

    func regionIDs() async throws -> [Int] { simulators.keys.sorted() }

    func client(region: Int) async throws -> CloudStackClient {
        guard let simulator = simulators[region] else { throw CLIError("no region \(region)") }
        return CloudStackClient(
            configuration: .init(endpoint: simulator.endpoint, apiKey: simulator.adminKeys.apikey!, secretKey: simulator.adminKeys.secretkey!))
    }

    func capacities(template: String, offering: String) async throws -> [RegionCapacity] {
        simulators.keys.sorted().map { id in
            RegionCapacity(
                regionID: id, name: "R\(id)", cpuMHz: 10_000_000, cpuMHzUsed: 0, memoryBytes: 1 << 44, memoryBytesUsed: 0,
                seatSize: SeatSize(cpuMHz: 1000, memoryBytes: 1 << 30), templateReady: true)
        }
    }
}
