import Core

/// The CloudStack guest OS type names a template may declare (`--os-type`): the names of CloudStack 4.18's
/// `guest_os` table that partners' templates use (documented in `docs/os-types.md`), plus any an operator adds.
/// A site's agent registers a template under this name, so a typo would fail at every site instead of here.
public struct GuestOSTypes: Sendable, Hashable {
    /// The accepted names.
    public var names: Set<String>

    public init(names: Set<String> = GuestOSTypes.cloudStack418, adding extra: some Sequence<String> = [String]()) {
        self.names = names.union(extra)
    }

    /// Refuses a name CloudStack would not know, with the nearest known one.
    /// - Throws: ``TemplateRepositoryError`` `unknownOSType`.
    public func check(_ name: String) throws {
        guard !names.contains(name) else { return }
        throw TemplateRepositoryError.unknownOSType(name, suggestion: Suggestion.closest(to: name, among: names.sorted()))
    }

    /// CloudStack 4.18 guest OS names (`listOsTypes` `description`) for the families partners build templates of.
    public static let cloudStack418: Set<String> = [
        "AlmaLinux 8", "AlmaLinux 9", "CentOS 6.10 (64-bit)", "CentOS 7", "CentOS 8", "CentOS Stream 8", "CentOS Stream 9",
        "Debian GNU/Linux 9 (64-bit)", "Debian GNU/Linux 10 (64-bit)", "Debian GNU/Linux 11 (64-bit)", "Debian GNU/Linux 12 (64-bit)",
        "Fedora Linux (64-bit)", "FreeBSD 12 (64-bit)", "FreeBSD 13 (64-bit)", "openSUSE Leap 15 (64-bit)", "Oracle Linux 7", "Oracle Linux 8",
        "Oracle Linux 9", "Red Hat Enterprise Linux 7.0", "Red Hat Enterprise Linux 8.0", "Red Hat Enterprise Linux 9.0", "Rocky Linux 8",
        "Rocky Linux 9", "SUSE Linux Enterprise Server 12 SP5 (64-bit)", "SUSE Linux Enterprise Server 15 (64-bit)", "Ubuntu 16.04 LTS",
        "Ubuntu 18.04 LTS", "Ubuntu 20.04 LTS", "Ubuntu 22.04 LTS", "Ubuntu 24.04 LTS", "Windows 10 (32-bit)", "Windows 10 (64-bit)",
        "Windows 11 (64-bit)", "Windows Server 2012 R2 (64-bit)", "Windows Server 2016 (64-bit)", "Windows Server 2019 (64-bit)",
        "Windows Server 2022 (64-bit)", "Other Linux (32-bit)", "Other Linux (64-bit)", "Other (32-bit)", "Other (64-bit)", "Other PV (32-bit)",
        "Other PV (64-bit)",
    ]
}
