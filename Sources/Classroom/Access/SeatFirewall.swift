import CloudStack
import Core
import Foundation
import Logging

/// The firewall rule in front of a seat's forwarded port: made for the course's allowed networks, and narrowed
/// VCL-style to the student's own address when they ask to connect from one computer only.
public enum SeatFirewall {
    /// Makes the rules for `port` on the address admit exactly `networks`: keeps a rule that already does, creates
    /// one otherwise, then deletes the others (the port is never closed in between).
    static func admit(_ networks: [String], ipAddressID: String, port: Int, client: CloudStackClient, logger: Logger) async throws
        -> FirewallRule?
    {
        let existing = try await client.listFirewallRules(ipAddressID: ipAddressID, logger: logger).filter { $0.startport == port }
        var admitting = existing.first { Set(($0.cidrlist ?? "").split(separator: ",").map(String.init)) == Set(networks) }
        if admitting == nil {
            admitting = try await client.createFirewallRule(
                ipAddressID: ipAddressID, startPort: port, endPort: port, cidrList: networks, logger: logger)
        }
        for old in existing where old.id != admitting?.id {
            if let id = old.id { try await client.deleteFirewallRule(id: id, logger: logger) }
        }
        return admitting
    }

    /// Narrows an open seat's port to `address` (as a /32 or /128), which must lie in one of the course's allowed
    /// networks; records the new rule. Returns the seat's access after.
    /// - Throws: ``ClassroomError`` `conflict` for a seat whose port is not open, `forbidden` for an address
    ///   outside the course's networks.
    public static func lock(
        _ seat: Seat, to address: String, course: Course, store: ClassroomStore, client: CloudStackClient, logger: Logger
    ) async throws -> SeatAccess {
        guard var access = seat.access, access.isOpen, let ipID = access.ipAddressID, let port = access.port else {
            throw ClassroomError.conflict("The seat has no open port to lock yet: wait until it is ready.")
        }
        guard let bytes = IPAddress.bytes(address), course.allowedNetworks.contains(where: { CIDR($0)?.contains(address) ?? false }) else {
            throw ClassroomError.forbidden(
                "Your address \(address) is outside the networks this course is open to (\(course.allowedNetworks.joined(separator: ", "))): connect from the campus network or its VPN."
            )
        }
        let network = "\(address)/\(bytes.count * 8)"
        let rule = try await admit([network], ipAddressID: ipID, port: port, client: client, logger: logger)
        access.firewallRuleID = rule?.id
        access.allowedNetworks = [network]
        try await store.setAccess(access, of: seat)
        logger.info(
            "seat locked to the student's address",
            metadata: ["booking.id": "\(seat.bookingID)", "seat": "\(seat.seat)", "address": "\(address)"])
        return access
    }
}
