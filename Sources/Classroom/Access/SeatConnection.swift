import Core
import Foundation

/// How a student connects to one ready seat, as the student page and the API show it: an `ssh` command line for
/// Linux seats, a `.rdp` file for Windows seats, the account and its password.
public struct SeatConnection: Sendable, Hashable, Codable {
    public var service: ServiceProbe.Service
    public var address: String
    public var port: Int
    public var username: String
    public var password: String

    public init?(access: SeatAccess, password: String) {
        guard let address = access.address, let port = access.port else { return nil }
        self.service = access.service
        self.address = address
        self.port = port
        self.username = access.username
        self.password = password
    }

    /// `ssh -p PORT student@ADDRESS` (IPv6 addresses need no brackets with `-p`).
    public var sshCommand: String { "ssh -p \(port) \(username)@\(address)" }

    /// A Remote Desktop Connection file (`mstsc`, Microsoft Remote Desktop, Remmina read it) that opens the seat.
    public var rdpFile: String {
        let host = address.contains(":") ? "[\(address)]" : address
        return [
            "full address:s:\(host):\(port)", "username:s:\(username)", "prompt for credentials:i:1", "authentication level:i:0",
            "screen mode id:i:2", "redirectclipboard:i:1", "",
        ].joined(separator: "\r\n")
    }
}
