#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ports on 127.0.0.1: whether they can be bound now, and one the kernel picks.
///
/// Both answers hold only for the moment of the call (another process may bind the port next); use them where
/// a fixed port must be chosen before a server starts (a benchmark's child process, the demo's port offset).
public enum LoopbackPorts {
    /// A port free on 127.0.0.1 now (bound to port 0 and released), or nil when no socket could be bound.
    public static func free() -> Int? {
        bound(0)
    }

    /// Whether every one of `ports` can be bound on 127.0.0.1 now.
    public static func areFree(_ ports: [Int]) -> Bool {
        ports.allSatisfy { bound($0) != nil }
    }

    private static func bound(_ port: Int) -> Int? {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        return ok ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }
}
