/// Everything that shapes one simulated CloudStack installation (a region).
///
/// Decodable from YAML or JSON; every field has a default that looks like a small university cloud,
/// so an empty file (or ``default``) gives one zone, four hosts, Small/Medium/Large offerings, common
/// Linux and Windows OS types, a ready featured template, a guest network and a public IP range.
public struct SimulatorConfiguration: Codable, Sendable, Hashable {
    /// The installation's name; also the name of its own row in the regions table.
    public var regionName: String = "Simulated-Region"
    /// This installation's region id (CloudStack's `region.id`, default 1).
    public var regionID: Int = 1
    /// Address to bind; loopback by default.
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 picks a free one.
    public var port: Int = 0
    /// The admin account's API key; generated when absent.
    public var apiKey: String?
    /// The admin account's secret key; generated when absent.
    public var secretKey: String?
    /// The CloudStack version reported by `listCapabilities`.
    public var cloudStackVersion: String = "4.18.2.0"
    /// The zones with their hosts.
    public var zones: [ZoneSpec] = [ZoneSpec()]
    /// Compute offerings.
    public var serviceOfferings: [OfferingSpec] = OfferingSpec.defaults
    /// Guest OS types (`listOsTypes`).
    public var osTypes: [OsTypeSpec] = OsTypeSpec.defaults
    /// Templates present from the start (ready, as in a fresh installation).
    public var builtinTemplates: [BuiltinTemplateSpec] = [BuiltinTemplateSpec()]
    /// How long async jobs stay pending, in milliseconds.
    public var jobDurationMilliseconds: Int = 300
    /// `vm.allocation.algorithm`: `random` (CloudStack's default) or `firstfit`.
    public var allocationAlgorithm: AllocationAlgorithm = .random
    /// `cpu.overprovisioning.factor`.
    public var cpuOverprovisioning: Double = 1
    /// Running VMs created at start-up, spread over the hosts (for scale tests and benchmarks).
    public var seedVirtualMachines: Int = 0
    /// Where downloaded templates are stored; a temporary directory when absent.
    public var storageDirectory: String?
    /// A JSON file the state is saved to and restored from, so a restart keeps state.
    public var stateFile: String?
    /// Fault injection.
    public var faults: FaultConfiguration = FaultConfiguration()
    /// How long (simulated seconds) a guest whose user data holds a build plan takes to provision before it
    /// runs its checks, reports to the plan's callback and powers off.
    public var guestProvisioningSeconds: Double = 20

    public init() {}

    /// A small university cloud named `regionName`.
    public static func `default`(regionName: String = "Simulated-Region") -> SimulatorConfiguration {
        var c = SimulatorConfiguration()
        c.regionName = regionName
        return c
    }

    /// How a host is picked for a new VM.
    public enum AllocationAlgorithm: String, Codable, Sendable {
        case random, firstfit
    }

    enum CodingKeys: String, CodingKey {
        case regionName, regionID, host, port, apiKey, secretKey, cloudStackVersion, zones, serviceOfferings, osTypes, builtinTemplates
        case jobDurationMilliseconds, allocationAlgorithm, cpuOverprovisioning, seedVirtualMachines, storageDirectory, stateFile, faults
        case guestProvisioningSeconds
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SimulatorConfiguration()
        regionName = try c.decodeIfPresent(String.self, forKey: .regionName) ?? d.regionName
        regionID = try c.decodeIfPresent(Int.self, forKey: .regionID) ?? d.regionID
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? d.host
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? d.port
        apiKey = try c.decodeIfPresent(String.self, forKey: .apiKey)
        secretKey = try c.decodeIfPresent(String.self, forKey: .secretKey)
        cloudStackVersion = try c.decodeIfPresent(String.self, forKey: .cloudStackVersion) ?? d.cloudStackVersion
        zones = try c.decodeIfPresent([ZoneSpec].self, forKey: .zones) ?? d.zones
        serviceOfferings = try c.decodeIfPresent([OfferingSpec].self, forKey: .serviceOfferings) ?? d.serviceOfferings
        osTypes = try c.decodeIfPresent([OsTypeSpec].self, forKey: .osTypes) ?? d.osTypes
        builtinTemplates = try c.decodeIfPresent([BuiltinTemplateSpec].self, forKey: .builtinTemplates) ?? d.builtinTemplates
        jobDurationMilliseconds = try c.decodeIfPresent(Int.self, forKey: .jobDurationMilliseconds) ?? d.jobDurationMilliseconds
        allocationAlgorithm = try c.decodeIfPresent(AllocationAlgorithm.self, forKey: .allocationAlgorithm) ?? d.allocationAlgorithm
        cpuOverprovisioning = try c.decodeIfPresent(Double.self, forKey: .cpuOverprovisioning) ?? d.cpuOverprovisioning
        seedVirtualMachines = try c.decodeIfPresent(Int.self, forKey: .seedVirtualMachines) ?? d.seedVirtualMachines
        storageDirectory = try c.decodeIfPresent(String.self, forKey: .storageDirectory)
        stateFile = try c.decodeIfPresent(String.self, forKey: .stateFile)
        faults = try c.decodeIfPresent(FaultConfiguration.self, forKey: .faults) ?? d.faults
        guestProvisioningSeconds = try c.decodeIfPresent(Double.self, forKey: .guestProvisioningSeconds) ?? d.guestProvisioningSeconds
    }
}

/// A zone and what is in it.
public struct ZoneSpec: Codable, Sendable, Hashable {
    public var name: String = "Zone1"
    /// Hosts in the zone (in one pod and cluster).
    public var hostCount: Int = 4
    /// CPU cores per host.
    public var hostCPUCores: Int = 32
    /// MHz per core.
    public var hostCPUSpeedMHz: Int = 2400
    /// Memory per host in GiB.
    public var hostMemoryGiB: Int = 256
    /// Hypervisor of the hosts.
    public var hypervisor: String = "KVM"
    /// Primary storage in GiB.
    public var primaryStorageGiB: Int = 20_480
    /// Secondary storage in GiB.
    public var secondaryStorageGiB: Int = 10_240
    /// Public IP range: first address (count `publicIPCount`). By default a loopback range of its own, so that
    /// forwarded ports really listen (see ``LoopbackRanges``).
    public var publicIPStart: String = LoopbackRanges.fresh()
    public var publicIPCount: Int = 200
    /// Guest network CIDR.
    public var guestCIDR: String = "10.1.1.0/24"

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ZoneSpec()
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? d.name
        hostCount = try c.decodeIfPresent(Int.self, forKey: .hostCount) ?? d.hostCount
        hostCPUCores = try c.decodeIfPresent(Int.self, forKey: .hostCPUCores) ?? d.hostCPUCores
        hostCPUSpeedMHz = try c.decodeIfPresent(Int.self, forKey: .hostCPUSpeedMHz) ?? d.hostCPUSpeedMHz
        hostMemoryGiB = try c.decodeIfPresent(Int.self, forKey: .hostMemoryGiB) ?? d.hostMemoryGiB
        hypervisor = try c.decodeIfPresent(String.self, forKey: .hypervisor) ?? d.hypervisor
        primaryStorageGiB = try c.decodeIfPresent(Int.self, forKey: .primaryStorageGiB) ?? d.primaryStorageGiB
        secondaryStorageGiB = try c.decodeIfPresent(Int.self, forKey: .secondaryStorageGiB) ?? d.secondaryStorageGiB
        publicIPStart = try c.decodeIfPresent(String.self, forKey: .publicIPStart) ?? d.publicIPStart
        publicIPCount = try c.decodeIfPresent(Int.self, forKey: .publicIPCount) ?? d.publicIPCount
        guestCIDR = try c.decodeIfPresent(String.self, forKey: .guestCIDR) ?? d.guestCIDR
    }
}

/// A compute offering.
public struct OfferingSpec: Codable, Sendable, Hashable {
    public var name: String
    public var cpuNumber: Int
    public var cpuSpeedMHz: Int
    public var memoryMB: Int
    /// Root disk size in GiB for VMs of this offering (the template's size when larger).
    public var rootDiskGiB: Int

    public init(name: String, cpuNumber: Int, cpuSpeedMHz: Int, memoryMB: Int, rootDiskGiB: Int = 20) {
        self.name = name
        self.cpuNumber = cpuNumber
        self.cpuSpeedMHz = cpuSpeedMHz
        self.memoryMB = memoryMB
        self.rootDiskGiB = rootDiskGiB
    }

    /// Small (1 vCPU, 1 GiB), Medium (2 vCPU, 4 GiB), Large (4 vCPU, 8 GiB).
    public static let defaults: [OfferingSpec] = [
        OfferingSpec(name: "Small Instance", cpuNumber: 1, cpuSpeedMHz: 1000, memoryMB: 1024),
        OfferingSpec(name: "Medium Instance", cpuNumber: 2, cpuSpeedMHz: 1000, memoryMB: 4096),
        OfferingSpec(name: "Large Instance", cpuNumber: 4, cpuSpeedMHz: 2000, memoryMB: 8192, rootDiskGiB: 40),
    ]
}

/// A guest OS type and its category.
public struct OsTypeSpec: Codable, Sendable, Hashable {
    public var description: String
    public var category: String

    public init(description: String, category: String) {
        self.description = description
        self.category = category
    }

    /// Common Linux and Windows guests.
    public static let defaults: [OsTypeSpec] = [
        .init(description: "Ubuntu 22.04 LTS", category: "Ubuntu"),
        .init(description: "Ubuntu 24.04 LTS", category: "Ubuntu"),
        .init(description: "Debian GNU/Linux 12 (64-bit)", category: "Debian"),
        .init(description: "Rocky Linux 9", category: "Rocky Linux"),
        .init(description: "CentOS 7", category: "CentOS"),
        .init(description: "Other Linux (64-bit)", category: "Other"),
        .init(description: "Windows 10 (64-bit)", category: "Windows"),
        .init(description: "Windows 11 (64-bit)", category: "Windows"),
        .init(description: "Windows Server 2022 (64-bit)", category: "Windows"),
        .init(description: "Other (64-bit)", category: "Other"),
    ]
}

/// A template present and ready from the start (like CloudStack's built-in CentOS template).
public struct BuiltinTemplateSpec: Codable, Sendable, Hashable {
    public var name: String = "CentOS 5.5(64-bit) no GUI (KVM)"
    public var osType: String = "CentOS 7"
    public var format: String = "QCOW2"
    public var hypervisor: String = "KVM"
    public var sizeBytes: Int64 = 2_147_483_648

    public init() {}
}

/// Faults the simulator injects, to test how callers cope.
public struct FaultConfiguration: Codable, Sendable, Hashable {
    /// Added latency per API request, in milliseconds.
    public var latencyMilliseconds: Int = 0
    /// Share (0…1) of requests per command answered with a 530 internal error; key `*` applies to all.
    public var errorRate: [String: Double] = [:]
    /// When true every API request is answered 503 (the management server is down behind its proxy).
    public var outage: Bool = false
    /// Secondary-storage download speed limit in bytes per second (0 = unlimited).
    public var downloadBytesPerSecond: Int = 0
    /// When true every template download fails part-way.
    public var failDownloads: Bool = false
    /// Per command, milliseconds the answer is held back *after* the command took effect (a lost or slow
    /// answer: a client that dies meanwhile never learns what it created).
    public var answerDelayMilliseconds: [String: Int] = [:]
    /// Guests never finish provisioning (a build that hangs: its deadline must end it).
    public var guestHangs: Bool = false
    /// Build checks, by name, whose command exits 1 in the guest.
    public var failingChecks: [String] = []
    /// Extracted templates' download URLs answer 500.
    public var extractFails: Bool = false
    /// The first download of each extracted template is cut after this many bytes (0: never), so a client must resume.
    public var extractInterruptAfterBytes: Int = 0

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        latencyMilliseconds = try c.decodeIfPresent(Int.self, forKey: .latencyMilliseconds) ?? 0
        errorRate = try c.decodeIfPresent([String: Double].self, forKey: .errorRate) ?? [:]
        outage = try c.decodeIfPresent(Bool.self, forKey: .outage) ?? false
        downloadBytesPerSecond = try c.decodeIfPresent(Int.self, forKey: .downloadBytesPerSecond) ?? 0
        failDownloads = try c.decodeIfPresent(Bool.self, forKey: .failDownloads) ?? false
        answerDelayMilliseconds = try c.decodeIfPresent([String: Int].self, forKey: .answerDelayMilliseconds) ?? [:]
        guestHangs = try c.decodeIfPresent(Bool.self, forKey: .guestHangs) ?? false
        failingChecks = try c.decodeIfPresent([String].self, forKey: .failingChecks) ?? []
        extractFails = try c.decodeIfPresent(Bool.self, forKey: .extractFails) ?? false
        extractInterruptAfterBytes = try c.decodeIfPresent(Int.self, forKey: .extractInterruptAfterBytes) ?? 0
    }
}
