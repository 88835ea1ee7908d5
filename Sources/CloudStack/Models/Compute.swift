import Core

/// A virtual machine (`listVirtualMachines` → `virtualmachine`; `jobresult.virtualmachine`). Memory in MB.
public struct VirtualMachine: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var displayname: String?
    public var account: String?
    public var userid: String?
    public var username: String?
    public var domainid: String?
    public var domain: String?
    public var created: Timestamp?
    public var state: String?
    public var haenable: Bool?
    public var groupid: String?
    public var group: String?
    public var zoneid: String?
    public var zonename: String?
    public var hostid: String?
    public var hostname: String?
    public var templateid: String?
    public var templatename: String?
    public var templatedisplaytext: String?
    public var passwordenabled: Bool?
    public var password: String?
    public var serviceofferingid: String?
    public var serviceofferingname: String?
    public var cpunumber: Int?
    public var cpuspeed: Int?
    public var memory: Int?
    public var cpuused: String?
    public var guestosid: String?
    public var rootdeviceid: Int?
    public var rootdevicetype: String?
    public var securitygroup: [JSONValue]?
    public var nic: [Nic]?
    public var hypervisor: String?
    public var instancename: String?
    public var publicip: String?
    public var publicipid: String?
    public var keypairs: String?
    public var ostypeid: String?
    public var osdisplayname: String?
    public var isdynamicallyscalable: Bool?
    public var displayvm: Bool?
    public var affinitygroup: [JSONValue]?
    public var tags: [ResourceTag]?
    public var details: [String: String]?
    public var jobid: String?
    public var jobstatus: Int?
    public init() {}
}

/// A VM's network interface.
public struct Nic: Codable, Sendable, Hashable {
    public var id: String?
    public var networkid: String?
    public var networkname: String?
    public var netmask: String?
    public var gateway: String?
    public var ipaddress: String?
    public var isolationuri: String?
    public var broadcasturi: String?
    public var traffictype: String?
    public var type: String?
    public var isdefault: Bool?
    public var macaddress: String?
    public init() {}
}

/// A template (`listTemplates` → `template`, one row per template and zone).
public struct Template: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var displaytext: String?
    public var ispublic: Bool?
    public var created: Timestamp?
    public var removed: Timestamp?
    public var isready: Bool?
    public var passwordenabled: Bool?
    public var format: String?
    public var isfeatured: Bool?
    public var crossZones: Bool?
    public var ostypeid: String?
    public var ostypename: String?
    public var account: String?
    public var accountid: String?
    public var zoneid: String?
    public var zonename: String?
    public var status: String?
    public var size: Int64?
    public var physicalsize: Int64?
    public var templatetype: String?
    public var hypervisor: String?
    public var domain: String?
    public var domainid: String?
    public var isextractable: Bool?
    public var checksum: String?
    public var sourcetemplateid: String?
    public var details: [String: String]?
    public var downloaddetails: [DownloadDetail]?
    public var bits: Int?
    public var sshkeyenabled: Bool?
    public var isdynamicallyscalable: Bool?
    public var directdownload: Bool?
    public var deployasis: Bool?
    public var requireshvm: Bool?
    public var bootable: Bool?
    public var url: String?
    public var templatetag: String?
    public var tags: [ResourceTag]?
    public init() {}
}

/// Per-store download progress of a template. `downloadPercent` is a string, as CloudStack sends it.
public struct DownloadDetail: Codable, Sendable, Hashable {
    public var downloadState: String?
    public var datastore: String?
    public var downloadPercent: String?
    public init() {}
}

/// The answer of `extractTemplate` (`jobresult.template`).
public struct ExtractedTemplate: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var extractId: String?
    public var accountid: String?
    public var state: String?
    public var zoneid: String?
    public var zonename: String?
    public var extractMode: String?
    public var url: String?
    public var status: String?
    public var uploadpercentage: Int?
    public var created: Timestamp?
    public init() {}
}
