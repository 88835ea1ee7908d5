import Foundation

/// Standard tools some tests hand their output to (promtool, systemd-analyze …).
///
/// `scripts/test` installs them and lists them in `MCLOUDS_REQUIRE_TOOLS`, so there a missing tool fails the test;
/// run by hand without the tool, the test is skipped, and says so (`.enabled(if: Tools.available("promtool"))`).
public enum Tools {
    /// The tool's path on `PATH`, if any.
    public static func path(_ name: String) -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// True when the tool is installed, or when the test command requires it (then a missing tool fails the test).
    public static func available(_ name: String) -> Bool {
        path(name) != nil || required(name)
    }

    /// True when `MCLOUDS_REQUIRE_TOOLS` names the tool.
    public static func required(_ name: String) -> Bool {
        (ProcessInfo.processInfo.environment["MCLOUDS_REQUIRE_TOOLS"] ?? "").split(separator: ",").contains(Substring(name))
    }
}
