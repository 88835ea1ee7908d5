import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The standard `process_*` metrics of the Prometheus client libraries, read from `/proc/self` at scrape time.
public enum ProcessMetrics {
    /// Adds `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
    /// `process_open_fds`, `process_max_fds` and `process_start_time_seconds` (those `/proc` can tell).
    public static func add(to text: inout PrometheusText) {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            // Fields after "(comm)": state is field 3; utime 14, stime 15, starttime 22, vsize 23, rss 24.
            let fields = stat[stat.index(after: close)...].split(separator: " ").map(String.init)
            func field(_ number: Int) -> Double? { fields.count > number - 3 ? Double(fields[number - 3]) : nil }
            if let user = field(14), let system = field(15), ticks > 0 {
                text.add(
                    "process_cpu_seconds_total", .counter, help: "Total user and system CPU time spent in seconds.", [([], (user + system) / ticks)])
            }
            if let vsize = field(23) { text.gauge("process_virtual_memory_bytes", help: "Virtual memory size in bytes.", vsize) }
            if let rss = field(24) { text.gauge("process_resident_memory_bytes", help: "Resident memory size in bytes.", rss * page) }
            if let start = field(22), ticks > 0, let boot = bootTime() {
                text.gauge("process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.", boot + start / ticks)
            }
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            text.gauge("process_open_fds", help: "Number of open file descriptors.", Double(fds.count))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            text.gauge("process_max_fds", help: "Maximum number of open file descriptors.", Double(limit.rlim_cur))
        }
    }

    static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix("btime ") }.flatMap { Double($0.dropFirst(6).trimmingCharacters(in: .whitespaces)) }
    }
}
