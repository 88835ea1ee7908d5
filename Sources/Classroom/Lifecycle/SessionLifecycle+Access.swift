import CloudStack
import Core
import Federation
import Foundation
import Logging

extension SessionLifecycle {
    /// The public addresses of one session in one region: associated once per network, on first need, tagged to
    /// the booking and session (the sweep finds one whose record was lost), recorded before use.
    actor AddressBook {
        let store: ClassroomStore
        let bookingID: String
        let session: Int
        let regionID: Int
        let client: CloudStackClient
        let logger: Logger
        private var pending: [String: Task<SessionAddress, any Error>] = [:]

        init(store: ClassroomStore, bookingID: String, session: Int, regionID: Int, client: CloudStackClient, logger: Logger) {
            self.store = store
            self.bookingID = bookingID
            self.session = session
            self.regionID = regionID
            self.client = client
            self.logger = logger
        }

        /// The session's address on `network`, associating one the first time (one call at a time per network).
        func address(network: String) async throws -> SessionAddress {
            if let task = pending[network] {
                do { return try await task.value } catch {
                    pending[network] = nil
                    throw error
                }
            }
            let (store, bookingID, session, regionID, client, logger) = (store, bookingID, session, regionID, client, logger)
            let task = Task {
                if let known = try await store.addresses(booking: bookingID, session: session).first(where: {
                    $0.regionID == regionID && $0.networkID == network
                }) {
                    return known
                }
                let ip = try await client.associateIpAddress(networkID: network, logger: logger)
                guard let id = ip.id, let text = ip.ipaddress else { throw ClassroomError.cloud("associateIpAddress returned no address") }
                let address = SessionAddress(
                    bookingID: bookingID, session: session, regionID: regionID, networkID: network, ipID: id, address: text)
                do {
                    try await store.saveAddress(address)
                    try await client.createTags(
                        resourceIDs: [id], resourceType: "PublicIpAddress",
                        tags: [
                            ResourceTag(key: SessionLifecycle.bookingTag, value: bookingID),
                            ResourceTag(key: SessionLifecycle.sessionTag, value: String(session)),
                        ],
                        logger: logger)
                } catch {
                    // Not recorded: give it back now rather than leave it to the sweep.
                    try? await client.disassociateIpAddress(id: id, logger: logger)
                    try? await store.deleteAddress(address)
                    throw error
                }
                logger.info(
                    "session address associated",
                    metadata: ["booking.id": "\(bookingID)", "booking.session": "\(session)", "region.id": "\(regionID)", "address": "\(text)"])
                return address
            }
            pending[network] = task
            do { return try await task.value } catch {
                pending[network] = nil
                throw error
            }
        }
    }

    /// The seat's credentials, made (and recorded) before its first deploy so that a retried deploy sets the same
    /// password; nil when the engine has no secrets key (then seats get no credentials and no forwarded port).
    func credentials(for seat: Seat, resolved: Resolved) async throws -> (access: SeatAccess, password: String)? {
        guard let secrets else { return nil }
        if let access = seat.access { return (access, try secrets.open(access.sealedPassword)) }
        let password = GuestSetup.newPassword()
        let access = SeatAccess(service: resolved.service, username: SeatAccess.seatUsername, sealedPassword: try secrets.seal(password))
        try await store.setAccess(access, of: seat)
        return (access, password)
    }

    /// Opens a running seat's forwarded port: the session's address on the VM's network, a port-forwarding rule
    /// from `basePort + seat` to the guest's SSH or RDP port, and a firewall rule for the course's allowed networks.
    /// Each step first looks for what an interrupted earlier attempt made. Does nothing for a course without
    /// allowed networks or a seat without credentials.
    func openAccess(_ seat: Seat, access: SeatAccess?, vm: VirtualMachine, course: Course, resolved: Resolved, addresses: AddressBook) async throws {
        guard var access, !course.allowedNetworks.isEmpty, let vmID = vm.id else { return }
        if access.isOpen, access.allowedNetworks == course.allowedNetworks { return }
        let client = resolved.client
        guard let network = vm.nic?.first?.networkid ?? resolved.networkID else {
            throw ClassroomError.cloud("the seat's VM \(seat.vmName) has no network to forward a port on")
        }
        let address = try await addresses.address(network: network)
        let port = SeatAccess.basePort + seat.seat
        let forwarding = try await client.listPortForwardingRules(ipAddressID: address.ipID, logger: logger)
        var rule = forwarding.first { $0.publicport == String(port) }
        if let stale = rule, stale.virtualmachineid != vmID, let id = stale.id {
            try await client.deletePortForwardingRule(id: id, logger: logger)  // a reset seat's old VM
            rule = nil
        }
        if rule == nil {
            rule = try await client.createPortForwardingRule(
                ipAddressID: address.ipID, publicPort: port, privatePort: access.service.privatePort, virtualMachineID: vmID, openFirewall: false,
                logger: logger)
        }
        let admitting = try await SeatFirewall.admit(course.allowedNetworks, ipAddressID: address.ipID, port: port, client: client, logger: logger)
        access.address = address.address
        access.ipAddressID = address.ipID
        access.port = port
        access.portForwardingRuleID = rule?.id
        access.firewallRuleID = admitting?.id
        access.allowedNetworks = course.allowedNetworks
        try await store.setAccess(access, of: seat)
    }

    /// Removes a seat's firewall and forwarding rules (those still there); keeps its credentials.
    func closeAccess(_ seat: Seat, client: CloudStackClient) async throws {
        guard var access = seat.access, let ipID = access.ipAddressID else { return }
        let publicIPs = try await client.listPublicIpAddresses(logger: logger)
        if publicIPs.contains(where: { $0.id == ipID }) {
            if let id = access.firewallRuleID, try await client.listFirewallRules(ipAddressID: ipID, logger: logger).contains(where: { $0.id == id })
            {
                try await client.deleteFirewallRule(id: id, logger: logger)
            }
            if let id = access.portForwardingRuleID,
                try await client.listPortForwardingRules(ipAddressID: ipID, logger: logger).contains(where: { $0.id == id })
            {
                try await client.deletePortForwardingRule(id: id, logger: logger)
            }
        }
        access.address = nil
        access.ipAddressID = nil
        access.port = nil
        access.portForwardingRuleID = nil
        access.firewallRuleID = nil
        try await store.setAccess(access, of: seat)
    }

    /// Releases a session's addresses (what rules are left on them go with them); returns how many could not be.
    func releaseAddresses(booking: String, session: Int) async -> Int {
        var left = 0
        for address in (try? await store.addresses(booking: booking, session: session)) ?? [] {
            do {
                let client = try await clouds.client(region: address.regionID)
                if try await client.listPublicIpAddresses(logger: logger).contains(where: { $0.id == address.ipID }) {
                    try await client.disassociateIpAddress(id: address.ipID, logger: logger)
                }
                try await store.deleteAddress(address)
            } catch is CancellationError {
                left += 1
            } catch {
                left += 1
                logger.warning(
                    "session address not released; retried next tick",
                    metadata: ["booking.id": "\(booking)", "region.id": "\(address.regionID)", "address": "\(address.address)", "error": "\(error)"])
            }
        }
        return left
    }

    /// Releases addresses tagged to a session that has no standing seat (or whose record is gone); returns how many.
    func sweepAddresses(standingSessions: Set<String>) async -> Int {
        var released = 0
        let known = Dictionary(((try? await store.allAddresses()) ?? []).map { ($0.ipID, $0) }, uniquingKeysWith: { a, _ in a })
        for region in (try? await clouds.regionIDs()) ?? [] {
            guard let client = try? await clouds.client(region: region), let ips = try? await client.listPublicIpAddresses(logger: logger) else {
                continue
            }
            for ip in ips {
                guard let id = ip.id else { continue }
                let tags = Dictionary((ip.tags ?? []).compactMap { tag in tag.key.map { ($0, tag.value ?? "") } }, uniquingKeysWith: { a, _ in a })
                guard let booking = tags[Self.bookingTag], let session = tags[Self.sessionTag], !standingSessions.contains("\(booking)/\(session)")
                else { continue }
                if (try? await client.disassociateIpAddress(id: id, logger: logger)) != nil {
                    if let record = known[id] { try? await store.deleteAddress(record) }
                    released += 1
                    logger.notice("orphan session address released", metadata: ["region.id": "\(region)", "address": "\(ip.ipaddress ?? id)"])
                }
            }
        }
        return released
    }
}
