import CloudStack
import CloudStackSimulator
import Core
import Crypto
import Federation
import Foundation
import Storage
import TestSupport
import Testing

@testable import Classroom

@Suite("Student access to seats")
struct SeatAccessTests {
    static let allowed = "127.10.0.0/16"
    static let insideSource = "127.10.0.5"
    static let outsideSource = "127.20.0.5"

    /// Every seat probed concurrently from `source`: seat number → outcome.
    static func probeAll(_ seats: [Seat], from source: String) async -> [Int: ServiceProbe.Outcome] {
        await withTaskGroup(of: (Int, ServiceProbe.Outcome).self) { group in
            for seat in seats {
                group.addTask {
                    guard let address = seat.access?.address, let port = seat.access?.port, let service = seat.access?.service else {
                        return (seat.seat, .refused)
                    }
                    return (seat.seat, await ServiceProbe.probe(host: address, port: port, service: service, source: source))
                }
            }
            var outcomes: [Int: ServiceProbe.Outcome] = [:]
            for await (seat, outcome) in group { outcomes[seat] = outcome }
            return outcomes
        }
    }

    static func roster(_ count: Int) -> [Member] {
        (1...count).map { Member(username: String(format: "s%03d", $0), email: String(format: "s%03d@uni.example", $0), name: "Student \($0)") }
    }

    @Test("a 40-seat class: every seat answers SSH from the allowed network and resets other sources; after teardown nothing is left")
    func fortySeats() async throws {
        try await SessionLifecycleTests.withWorld(seats: 40, regions: [1, 2]) { store, clouds, booking, database in
            _ = try await store.setAllowedNetworks(course: booking.courseID, [Self.allowed])
            try await store.setMembers(course: booking.courseID, group: "lab-a", Self.roster(40))
            let secrets = SecretBox(key: SymmetricKey(size: .bits256))
            let sessions = try booking.sessions()
            let clock = ManualWallClock(sessions[0].start.addingTimeInterval(-1790))
            let engine = SessionLifecycleTests.engine(store, clouds, database, clock: clock, secrets: secrets)
            let started = ContinuousClock.now
            var report = try await engine.tick()
            for _ in 0..<5 where report.ready < 41 { report = try await engine.tick() }
            print("40-seat class: \(report.ready) seats ready and open in \(ContinuousClock.now - started)")
            let seats = try await store.seats(booking: booking.id, session: 0)
            #expect(seats.count == 41 && seats.allSatisfy { $0.state == .ready && $0.access?.isOpen == true })
            #expect(Set(seats.compactMap(\.student)) == Set(Self.roster(40).map(\.username)))
            #expect(Set(seats.compactMap(\.access?.port)).count == 41 && seats.allSatisfy { $0.access?.port == SeatAccess.basePort + $0.seat })
            // One address per region of the session.
            #expect(try await store.addresses(booking: booking.id, session: 0).count == Set(seats.map(\.regionID)).count)

            let inside = await Self.probeAll(seats, from: Self.insideSource)
            let answered = inside.values.filter(\.answered).count
            print("40-seat class: \(answered) of \(seats.count) seats answer SSH from \(Self.insideSource)")
            #expect(answered == seats.count)
            #expect(inside.values.allSatisfy { $0 == .ssh(banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3") })
            let outside = await Self.probeAll(seats, from: Self.outsideSource)
            #expect(outside.values.allSatisfy { $0 == .refused } && outside.count == seats.count)

            // Each guest was told its own password in user data; the database keeps it only sealed.
            let simulators = clouds.simulators
            for seat in seats.prefix(3) {
                let password = try secrets.open(try #require(seat.access?.sealedPassword))
                #expect(password.count == 20 && !seat.access!.sealedPassword.contains(password))
                #expect(simulators[seat.regionID]?.userData(vmName: seat.vmName)?.contains("password: \(password)") == true)
            }

            clock.set(sessions[0].end.addingTimeInterval(901))
            #expect(try await engine.tick().tornDown == 41)
            for simulator in simulators.values { #expect(await simulator.listeningGuestPorts().isEmpty) }
            for region in [1, 2] {
                let client = try await clouds.client(region: region)
                #expect(try await client.listPublicIpAddresses(logger: SessionLifecycleTests.logger).allSatisfy { $0.issourcenat == true })
                #expect(try await client.listPortForwardingRules(logger: SessionLifecycleTests.logger).isEmpty)
                #expect(try await client.listFirewallRules(logger: SessionLifecycleTests.logger).isEmpty)
            }
            #expect(try await store.addresses(booking: booking.id, session: 0).isEmpty)
            #expect(await Self.probeAll(seats, from: Self.insideSource).values.allSatisfy { $0 == .refused })
        }
    }

    @Test("a teacher's reset re-deploys a seat with the same student, password and port; a course without networks gets no port")
    func resetAndNoNetworks() async throws {
        try await SessionLifecycleTests.withWorld(seats: 2) { store, clouds, booking, database in
            try await store.setMembers(course: booking.courseID, group: "lab-a", Self.roster(2))
            let secrets = SecretBox(key: SymmetricKey(size: .bits256))
            let sessions = try booking.sessions()
            let clock = ManualWallClock(sessions[0].start.addingTimeInterval(-1790))
            let engine = SessionLifecycleTests.engine(store, clouds, database, clock: clock, secrets: secrets)
            _ = try await engine.tick()
            var seats = try await store.seats(booking: booking.id, session: 0)
            // No allowed networks: credentials, but no address and no forwarded port.
            #expect(seats.allSatisfy { $0.state == .ready && $0.access != nil && $0.access?.isOpen == false })
            #expect(try await store.addresses(booking: booking.id, session: 0).isEmpty)

            _ = try await store.setAllowedNetworks(course: booking.courseID, [Self.allowed])
            try await store.requestReset(booking: booking.id, session: 0, seat: 0, now: clock.now())
            await #expect(throws: ClassroomError.self) { try await store.requestReset(booking: booking.id, session: 0, seat: 0, now: clock.now()) }
            let before = seats[0]
            for _ in 0..<3 { _ = try await engine.tick() }
            seats = try await store.seats(booking: booking.id, session: 0)
            let after = seats[0]
            #expect(after.state == .ready && after.vmID != before.vmID && after.student == before.student)
            #expect(after.access?.sealedPassword == before.access?.sealedPassword && after.access?.port == SeatAccess.basePort)
            #expect(
                await ServiceProbe.probe(host: after.access!.address!, port: after.access!.port!, service: .ssh, source: Self.insideSource).answered)
            let vms = try await SessionLifecycleTests.seatVMs(clouds, region: 1, booking: booking.id)
            #expect(vms.count == 3 && !vms.contains { $0.id == before.vmID })
        }
    }

    @Test("rotating the secrets key seals seat passwords and the Guacamole key again; with the old key retired they still open")
    func resealOnRotation() async throws {
        try await SessionLifecycleTests.withWorld(seats: 1) { store, clouds, booking, database in
            try await withTemporaryDirectory { directory in
                let keyFile = directory.appendingPathComponent("secrets.aes256").path
                let secrets = try SecretBox.open(keyFile: keyFile, environment: [:])
                try await store.setMembers(course: booking.courseID, group: "lab", Self.roster(1))
                let sessions = try booking.sessions()
                let engine = SessionLifecycleTests.engine(
                    store, clouds, database, clock: ManualWallClock(sessions[0].start.addingTimeInterval(-1790)), secrets: secrets)
                _ = try await engine.tick()
                let before = try await store.seats(booking: booking.id, session: 0)
                let passwords = try before.map { try secrets.open(try #require($0.access?.sealedPassword)) }
                try await store.setGuacamole(
                    GuacamoleGateway(
                        url: "https://gw.uni.example/guacamole/", sealedKey: try secrets.seal("00ff" + String(repeating: "a", count: 28))))
                _ = try SecretBox.rotate(keyFile: keyFile)
                let (resealed, remaining) = try await store.reseal(with: secrets)
                #expect(resealed == before.count + 1 && remaining == 0)
                _ = try SecretBox.retire(keyFile: keyFile)
                let after = try await store.seats(booking: booking.id, session: 0)
                #expect(try after.map { try secrets.open(try #require($0.access?.sealedPassword)) } == passwords)
                #expect(try secrets.open(try #require(try await store.guacamole()).sealedKey).hasPrefix("00ff"))
                let again = try await store.reseal(with: secrets)
                #expect(again.resealed == 0 && again.remaining == 0)
            }
        }
    }

    @Test("the sweep releases an address tagged to a session whose record is gone")
    func sweepsOrphanAddresses() async throws {
        try await SessionLifecycleTests.withWorld(seats: 1) { store, clouds, booking, database in
            let client = try await clouds.client(region: 1)
            let network = try #require(try await client.listNetworks(logger: SessionLifecycleTests.logger).first?.id)
            let ip = try await client.associateIpAddress(networkID: network, logger: SessionLifecycleTests.logger)
            try await client.createTags(
                resourceIDs: [ip.id!], resourceType: "PublicIpAddress",
                tags: [.init(key: SessionLifecycle.bookingTag, value: "b-gone"), .init(key: SessionLifecycle.sessionTag, value: "0")],
                logger: SessionLifecycleTests.logger)
            let untagged = try await client.associateIpAddress(networkID: network, logger: SessionLifecycleTests.logger)
            let engine = SessionLifecycleTests.engine(store, clouds, database, clock: ManualWallClock(Date(timeIntervalSince1970: 0)))
            _ = try await engine.sweep()
            let left = try await client.listPublicIpAddresses(logger: SessionLifecycleTests.logger).compactMap(\.id)
            #expect(!left.contains(ip.id!) && left.contains(untagged.id!))
        }
    }

    @Test("students keep their seats, leavers free theirs, newcomers take the lowest free seat")
    func assignmentPlan() {
        let plan = SeatAssignment.plan(seats: [(0, "bob"), (1, "zed"), (2, nil), (3, "bob")], roster: ["bob", "amy", "cat"])
        // bob keeps seat 0; zed left and bob's second seat is freed; amy and cat take the lowest free seats.
        #expect(plan == [1: "amy", 2: "cat", 3: String?.none])
        #expect(SeatAssignment.plan(seats: [(0, "amy")], roster: []) == [0: String?.none])
        #expect(SeatAssignment.plan(seats: [(0, "amy"), (1, nil)], roster: ["amy"]).isEmpty)
    }

    @Test("a seat's connection: the ssh line for Linux, a Remote Desktop file for Windows (IPv6 in brackets)")
    func connectionForms() throws {
        var access = SeatAccess(service: .rdp, username: "student", address: "127.64.0.10", port: 20007, sealedPassword: "x")
        let rdp = try #require(SeatConnection(access: access, password: "pw"))
        #expect(rdp.rdpFile.hasPrefix("full address:s:127.64.0.10:20007\r\nusername:s:student\r\n"))
        #expect(!rdp.rdpFile.contains("pw"))  // the password is typed, never written into the file
        access.service = .ssh
        access.address = "2001:db8::5"
        let ssh = try #require(SeatConnection(access: access, password: "pw"))
        #expect(ssh.sshCommand == "ssh -p 20007 student@2001:db8::5" && ssh.rdpFile.hasPrefix("full address:s:[2001:db8::5]:20007"))
        access.port = nil
        #expect(SeatConnection(access: access, password: "pw") == nil)
    }

    @Test("user data: cloud-config for Linux seats, a PowerShell script for Windows, passwords from a look-alike-free alphabet")
    func userData() {
        let linux = GuestSetup.userData(for: .ssh, username: "student", password: "pw123")
        #expect(linux.hasPrefix("#cloud-config\n") && linux.contains("ssh_pwauth: true") && linux.contains("password: pw123"))
        let windows = GuestSetup.userData(for: .rdp, username: "student", password: "pw123")
        #expect(windows.hasPrefix("#ps1_sysnative\n") && windows.contains("'pw123'") && windows.contains("Remote Desktop Users"))
        let passwords = (0..<50).map { _ in GuestSetup.newPassword() }
        #expect(Set(passwords).count == 50 && passwords.allSatisfy { $0.count == 20 && !$0.contains { "0O1lI".contains($0) } })
        #expect(GuestSetup.service(osTypeName: "Windows Server 2022 (64-bit)") == .rdp && GuestSetup.service(osTypeName: "Ubuntu 22.04 LTS") == .ssh)
    }
}
