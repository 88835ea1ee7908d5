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

    static func escape(_ text: String) -> String { text.xmlEscaped }
}
