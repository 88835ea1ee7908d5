// Infrastructure objects. Properties are declared in the order CloudStack 4.18 serializes them,
// so the simulator's encoding matches the real server field for field.

/// A zone (`listZones` → `zone`).
public struct Zone: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var description: String?
    public var dns1: String?
    public var dns2: String?
    public var internaldns1: String?
    public var guestcidraddress: String?
    public var networktype: String?
    public var securitygroupsenabled: Bool?
    public var allocationstate: String?
    public var zonetoken: String?
    public var dhcpprovider: String?
    public var localstorageenabled: Bool?
    public var type: String?
    public var tags: [ResourceTag]?
    public init() {}
}

/// A host (`listHosts` → `host`). CPU in MHz, memory in bytes; percentages are strings as CloudStack sends them.
public struct ComputeHost: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var state: String?
    public var type: String?
    public var ipaddress: String?
    public var zoneid: String?
    public var zonename: String?
    public var podid: String?
    public var podname: String?
    public var version: String?
    public var hypervisor: String?
    public var hypervisorversion: String?
    public var cpunumber: Int?
    public var cpuspeed: Int64?
    public var cpuallocated: String?
    public var cpuallocatedvalue: Int64?
    public var cpuallocatedpercentage: String?
    public var cpuallocatedwithoverprovisioning: String?
    public var cpuused: String?
    public var cpuwithoverprovisioning: String?
    public var memorytotal: Int64?
    public var memorywithoverprovisioning: String?
    public var memoryallocated: Int64?
    public var memoryallocatedpercentage: String?
    public var memoryallocatedbytes: Int64?
    public var memoryused: Int64?
    public var disksizetotal: Int64?
    public var disksizeallocated: Int64?
    public var capabilities: String?
    public var lastpinged: Timestamp?
    public var clusterid: String?
    public var clustername: String?
    public var clustertype: String?
    public var islocalstorageactive: Bool?
    public var created: Timestamp?
    public var events: String?
    public var hosttags: String?
    public var hahost: Bool?
    public var resourcestate: String?
    public init() {}
}

/// One capacity figure (`listCapacity` → `capacity`). `percentused` is a string (`"42.41"`), as CloudStack formats it.
public struct Capacity: Codable, Sendable, Hashable {
    public var type: Int?
    public var name: String?
    public var zoneid: String?
    public var zonename: String?
    public var podid: String?
    public var podname: String?
    public var clusterid: String?
    public var clustername: String?
    public var capacityallocated: Int64?
    public var capacityused: Int64?
    public var capacitytotal: Int64?
    public var percentused: String?
    public init() {}
}

/// CloudStack's capacity types (`Capacity.java`), with the names `listCapacity` reports.
public enum CapacityType: Int, Sendable, CaseIterable, Codable {
    case memory = 0
    case cpu = 1
    case storage = 2
    case storageAllocated = 3
    case virtualNetworkPublicIP = 4
    case privateIP = 5
    case secondaryStorage = 6
    case vlan = 7
    case directAttachedPublicIP = 8
    case localStorage = 9
    case gpu = 19
    case cpuCore = 90

    /// The name CloudStack prints for the type (`CapacityVO`).
    public var name: String {
        switch self {
        case .memory: "MEMORY"
        case .cpu: "CPU"
        case .storage: "STORAGE"
        case .storageAllocated: "STORAGE_ALLOCATED"
        case .virtualNetworkPublicIP: "VIRTUAL_NETWORK_PUBLIC_IP"
        case .privateIP: "PRIVATE_IP"
        case .secondaryStorage: "SECONDARY_STORAGE"
        case .vlan: "VLAN"
        case .directAttachedPublicIP: "DIRECT_ATTACHED_PUBLIC_IP"
        case .localStorage: "LOCAL_STORAGE"
        case .gpu: "GPU"
        case .cpuCore: "CPU_CORE"
        }
    }
}

/// A compute offering (`listServiceOfferings` → `serviceoffering`). Memory in MB, CPU speed in MHz.
public struct ServiceOffering: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var displaytext: String?
    public var cpunumber: Int?
    public var cpuspeed: Int?
    public var memory: Int?
    public var created: Timestamp?
    public var storagetype: String?
    public var provisioningtype: String?
    public var offerha: Bool?
    public var limitcpuuse: Bool?
    public var isvolatile: Bool?
    public var issystem: Bool?
    public var defaultuse: Bool?
    public var iscustomized: Bool?
    public var rootdisksize: Int64?
    public init() {}
}

/// A guest OS type (`listOsTypes` → `ostype`).
public struct OsType: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var description: String?
    public var oscategoryid: String?
    public var oscategoryname: String?
    public var isuserdefined: Bool?
    public var fordisplay: Bool?
    public init() {}
}

/// A guest network (`listNetworks` → `network`).
public struct Network: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var displaytext: String?
    public var broadcastdomaintype: String?
    public var traffictype: String?
    public var gateway: String?
    public var netmask: String?
    public var cidr: String?
    public var zoneid: String?
    public var zonename: String?
    public var networkofferingid: String?
    public var networkofferingname: String?
    public var state: String?
    public var dns1: String?
    public var type: String?
    public var account: String?
    public var domainid: String?
    public var domain: String?
    public var isdefault: Bool?
    public var canusefordeploy: Bool?
    public var ispersistent: Bool?
    public var specifyipranges: Bool?
    public var physicalnetworkid: String?
    public var acltype: String?
    public var tags: [ResourceTag]?
    public init() {}
}

/// A disk volume (`listVolumes` → `volume`). Sizes in bytes.
public struct Volume: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var zoneid: String?
    public var zonename: String?
    public var type: String?
    public var deviceid: Int?
    public var virtualmachineid: String?
    public var vmname: String?
    public var vmstate: String?
    public var size: Int64?
    public var created: Timestamp?
    public var state: String?
    public var account: String?
    public var domainid: String?
    public var domain: String?
    public var storagetype: String?
    public var hypervisor: String?
    public var storage: String?
    public var destroyed: Bool?
    public var isextractable: Bool?
    public var templateid: String?
    public var tags: [ResourceTag]?
    public init() {}
}

/// A CloudStack region row (`listRegions` → `region`). Region ids are integers.
public struct Region: Codable, Sendable, Hashable {
    public var id: Int?
    public var name: String?
    public var endpoint: String?
    public var gslbserviceenabled: Bool?
    public var portableipserviceenabled: Bool?
    public init() {}
}

/// A resource tag (`listTags` → `tag`, and `tags` inside resources).
public struct ResourceTag: Codable, Sendable, Hashable {
    public var key: String?
    public var value: String?
    public var resourcetype: String?
    public var resourceid: String?
    public var account: String?
    public var domainid: String?
    public var domain: String?
    public var customer: String?
    public init() {}

    /// A tag with a key and value only, for requests.
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}
