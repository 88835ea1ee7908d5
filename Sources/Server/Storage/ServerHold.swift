import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `DATA/server.lock`: every running server holds it shared for as long as it runs; a change written straight
/// into the data directory (`--data`, offline bootstrap) holds it exclusively, and is refused while a server
/// holds it — then the change goes through the server, authorised and audited.
public final class ServerHold: Sendable {
    private let descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    deinit { close(descriptor) }  // closing releases the lock

    /// Holds `directory` as a running server (several servers may share it).
    public static func server(_ directory: DataDirectory) throws -> ServerHold {
        try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true)
        let fd = try open(directory)
        // An offline change holds it only for a moment: wait for it.
        while flock(fd, LOCK_SH) != 0 {
            guard errno == EINTR else {
                close(fd)
                throw APIError(status: 500, "Cannot lock \(path(directory)): \(String(cString: strerror(errno))).")
            }
        }
        return ServerHold(descriptor: fd)
    }

    /// Holds `directory` for an offline change; nil when the directory does not exist (the command then says so).
    /// - Throws: ``APIError`` (409) while a server runs on it.
    public static func offline(_ directory: DataDirectory) throws -> ServerHold? {
        guard FileManager.default.fileExists(atPath: directory.url.path) else { return nil }
        let fd = try open(directory)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw APIError(
                status: 409,
                "A server is running on \(directory.url.path): make the change through it (--server URL, with a token) so that it is authorised and audited; --data is for offline bootstrap only."
            )
        }
        return ServerHold(descriptor: fd)
    }

    private static func path(_ directory: DataDirectory) -> String { directory.url.appendingPathComponent("server.lock").path }

    private static func open(_ directory: DataDirectory) throws -> Int32 {
        let fd = Glibc.open(path(directory), O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw APIError(status: 500, "Cannot open \(path(directory)): \(String(cString: strerror(errno))).") }
        return fd
    }
}
