import Foundation

/// Used and total of one resource. Free and percent follow from them.
public struct CapacityFigure: Codable, Sendable, Hashable {
    public var used: Int64
    public var total: Int64

    public init(used: Int64 = 0, total: Int64 = 0) {
        self.used = used
        self.total = total
    }

    public var free: Int64 { max(0, total - used) }
    public var percentUsed: Double { total > 0 ? Double(used) / Double(total) * 100 : 0 }

    public static func + (a: Self, b: Self) -> Self { .init(used: a.used + b.used, total: a.total + b.total) }
}

/// The resources the dashboard totals, by key (stable names used in the JSON API, the page and `/metrics`).
public enum Resource: String, Codable, Sendable, CaseIterable {
    /// CPU in MHz (capacity type 1).
    case cpu
    /// CPU cores (type 90).
    case cpuCores = "cpu_cores"
    /// Memory in bytes (type 0).
    case memory
    /// Primary storage in bytes, used (type 2).
    case primaryStorage = "primary_storage"
    /// Primary storage in bytes, allocated (type 3).
    case primaryStorageAllocated = "primary_storage_allocated"
    /// Secondary storage in bytes (type 6).
    case secondaryStorage = "secondary_storage"
    /// Public IP addresses (type 4).
    case publicIPs = "public_ips"

    /// The `listCapacity` type it comes from.
    public var capacityType: Int {
        switch self {
        case .cpu: 1
        case .cpuCores: 90
        case .memory: 0
        case .primaryStorage: 2
        case .primaryStorageAllocated: 3
        case .secondaryStorage: 6
        case .publicIPs: 4
        }
    }

    public var title: String {
        switch self {
        case .cpu: "CPU"
        case .cpuCores: "CPU cores"
        case .memory: "Memory"
        case .primaryStorage: "Primary storage"
        case .primaryStorageAllocated: "Primary storage allocated"
        case .secondaryStorage: "Secondary storage"
        case .publicIPs: "Public IPs"
        }
    }

    /// Whether the figures are bytes.
    public var isBytes: Bool { [.memory, .primaryStorage, .primaryStorageAllocated, .secondaryStorage].contains(self) }
}

/// What one collection read from one region.
public struct RegionSnapshot: Codable, Sendable, Hashable {
    public struct Zone: Codable, Sendable, Hashable {
        public var id: String
        public var name: String
        public var allocationState: String?
    }

    public struct Hosts: Codable, Sendable, Hashable {
        public var total = 0
        /// State `Up`.
        public var up = 0
        /// Any other state (Down, Alert, Disconnected, Maintenance …), by state.
        public var other: [String: Int] = [:]
        public var cpuCores = 0
        public var cpuMHz: Int64 = 0
        public var memoryBytes: Int64 = 0
        public var memoryUsedBytes: Int64 = 0
    }

    public struct VirtualMachines: Codable, Sendable, Hashable {
        public var total = 0
        public var byState: [String: Int] = [:]
        public var byOffering: [String: Int] = [:]
        public var byTemplate: [String: Int] = [:]
        public var byAccount: [String: Int] = [:]
        public var running: Int { byState["Running"] ?? 0 }
    }

    /// A template carrying mClouds tags, as registered in this region.
    public struct TemplateCopy: Codable, Sendable, Hashable {
        public var template: String
        public var version: String
        public var digest: String?
        public var state: String
        public var featured: Bool
        public var created: String?
    }

    public var regionID: Int
    public var regionName: String
    /// When it was read (`yyyy-MM-ddTHH:mm:ssZ`).
    public var collected: String
    public var zones: [Zone]
    public var hosts: Hosts
    public var capacity: [String: CapacityFigure]
    public var virtualMachines: VirtualMachines
    public var templates: [TemplateCopy]

    public func figure(_ resource: Resource) -> CapacityFigure? { capacity[resource.rawValue] }
}

/// A TLS certificate as a client sees it.
public struct CertificateInfo: Codable, Sendable, Hashable {
    public var subject: String
    public var issuer: String
    public var notAfter: String
    public var daysLeft: Int
    /// Whether it chains to a trusted root and names the host.
    public var trusted: Bool
    public var trustError: String?
}

/// Ok, warning or error, with the reasons.
public enum HealthLevel: String, Codable, Sendable, Comparable {
    case ok, warning, error

    public static func < (a: Self, b: Self) -> Bool {
        let order: [Self] = [.ok, .warning, .error]
        return order.firstIndex(of: a)! < order.firstIndex(of: b)!
    }
}

/// A region's health at the last collection.
public struct RegionHealth: Codable, Sendable, Hashable {
    public var reachable: Bool
    public var latencyMilliseconds: Double?
    public var cloudStackVersion: String?
    public var certificate: CertificateInfo?
    public var level: HealthLevel
    public var problems: [String]
    public var checked: String
    /// When data was last collected successfully (may be older than `checked`).
    public var lastSuccess: String?
}

/// One region in the dashboard: its health and its latest data, which may be stale.
public struct RegionStatus: Codable, Sendable, Hashable {
    public var id: Int
    public var name: String
    public var endpoint: String
    public var health: RegionHealth?
    public var snapshot: RegionSnapshot?
    /// True when the last collection failed and `snapshot` is older data.
    public var stale: Bool
    /// Age of `snapshot` in seconds at the time of the summary.
    public var ageSeconds: Int?

    /// An age for people: `40 s ago`, `12 min ago`, `5 h ago`, `3 days ago`.
    public static func describeAge(seconds: Int) -> String {
        switch seconds {
        case ..<90: "\(max(0, seconds)) s ago"
        case ..<5400: "\(seconds / 60) min ago"
        case ..<172_800: "\(seconds / 3600) h ago"
        default: "\(seconds / 86_400) days ago"
        }
    }
}
