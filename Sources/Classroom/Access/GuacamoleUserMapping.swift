import Core
import Crypto
import Foundation

/// Guacamole's file-based authentication (`GUACAMOLE_HOME/user-mapping.xml`, re-read when it changes): one
/// `<authorize>` per student, their login password kept as SHA-256 (`encoding="sha256"`), with the connection to
/// each of their seats. For a gateway without the JSON extension; the file holds the seats' passwords for
/// Guacamole to log in with, so it is shown only to the course's teachers and administrators.
public enum GuacamoleUserMapping {
    /// One student's login and connections.
    public struct Entry: Sendable, Hashable {
        public var username: String
        public var password: String
        public var connections: [GuacamoleJSON.Connection]

        public init(username: String, password: String, connections: [GuacamoleJSON.Connection]) {
            self.username = username
            self.password = password
            self.connections = connections
        }
    }

    /// The document.
    public static func xml(_ entries: [Entry]) -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- Written by mClouds: the seats of a class session. -->\n<user-mapping>\n"
        for entry in entries.sorted(by: { $0.username < $1.username }) {
            let hash = SHA256.hash(data: Array(entry.password.utf8)).hexString
            out += "  <authorize username=\"\(escape(entry.username))\" password=\"\(hash)\" encoding=\"sha256\">\n"
            for connection in entry.connections {
                out += "    <connection name=\"\(escape(connection.name))\">\n"
                out += "      <protocol>\(escape(connection.protocolName))</protocol>\n"
                for (name, value) in connection.parameters.sorted(by: { $0.key < $1.key }) {
                    out += "      <param name=\"\(escape(name))\">\(escape(value))</param>\n"
                }
                out += "    </connection>\n"
            }
            out += "  </authorize>\n"
        }
        return out + "</user-mapping>\n"
    }

    /// The entries for a session's seats: each assigned seat with an open port, its password opened by `open`.
    public static func entries(_ seats: [Seat], course: Course, open: (String) throws -> String) -> [Entry] {
        seats.compactMap { seat in
            guard let student = seat.student, let access = seat.access, access.isOpen, let password = try? open(access.sealedPassword),
                let connection = GuacamoleJSON.connection(to: seat, of: course, access: access, password: password)
            else { return nil }
            return Entry(username: student, password: password, connections: [connection])
        }
    }

    static func escape(_ text: String) -> String { text.xmlEscaped }
}
