import CloudStack
import Core
import Foundation

/// The whole state of one simulated installation. A value type: the server keeps it behind a lock
/// and every request runs as one atomic step on it, so a caller never sees half a change.
struct World: Codable, Sendable {
    var configuration: SimulatorConfiguration
    var domainID: String
    var zones: [ZoneRecord] = []
    var hosts: [String: HostRecord] = [:]
    var hostOrder: [String] = []
    var offerings: [ServiceOffering] = []
    var osTypes: [OsType] = []
    var templates: [String: TemplateRecord] = [:]
    var templateOrder: [String] = []
    var vms: [String: VMRecord] = [:]
    var vmOrder: [String] = []
    var volumes: [String: Volume] = [:]
    var volumeOrder: [String] = []
    var accounts: [String: AccountRecord] = [:]
    var accountOrder: [String] = []
    var users: [String: UserRecord] = [:]
    var userByAPIKey: [String: String] = [:]
    var regions: [Region] = []
    /// Settings changed with `updateConfiguration` (name → value), and per account (account id → name → value).
    var globalSettings: [String: String]?
    var accountSettings: [String: [String: String]]?
    var networks: [String: Network] = [:]
    var networkOrder: [String] = []
    var tags: [String: [ResourceTag]] = [:]
    var publicIPs: [String: PublicIpAddress] = [:]
    var publicIPOrder: [String] = []
    var portForwardingRules: [String: PortForwardingRule] = [:]
    var portForwardingOrder: [String] = []
    var firewallRules: [String: FirewallRule] = [:]
    var firewallOrder: [String] = []
    var jobs: [String: JobRecord] = [:]
    var pendingJobs: [String] = []
    var extractions: [String: String] = [:]
    /// Public IPs released with `disassociateIpAddress` (CloudStack keeps their rows: rules on them are refused, not unknown).
    var releasedIPs: Set<String>?
    /// Port-forwarding rule id → the firewall rule it opened (`openfirewall`), removed with it.
    var openedFirewall: [String: String]?
    /// Console sessions made by `createConsoleEndpoint`: token → the VM id, until its websocket is opened once.
    var consoleTokens: [String: String]?
    /// Registered SSH key pairs by id.
    var sshKeyPairs: [String: SSHKeyPairRecord]?
    /// Guests running their user data's build plan, by VM id.
    var guestRuns: [String: GuestRun]?
    /// Root volume id → the user data its guest ran (what a template made from it holds).
    var provisionedVolumes: [String: String]?
    /// Templates whose image must be written from a provisioned volume: template id → (base image, user data).
    var pendingImages: [String: PendingImage]?
    /// VM id → the public IP id with static NAT to it.
    var staticNATByVM: [String: String] = [:]
    /// Template downloads for the secondary-storage worker to start.
    var downloadQueue: [DownloadRequest] = []
    /// Files of removed templates for the worker to delete.
    var deletedFiles: [String] = []
    /// `http://host:port` of the running simulator.
    var baseURL = ""
    var vmCounter = 2
    var adminAccountID: String
    var adminUserID: String

    static func newID() -> String { UUID().uuidString.lowercased() }

    /// The owner of built-in templates (CloudStack's SYSTEM account).
    static let systemAccountID = stableID("account-system")

    /// The endpoint CloudStack's schema gives the default region row.
    static let placeholderEndpoint = "http://localhost:8080/client/"

    /// Builds a fresh installation from its configuration.
    init(configuration: SimulatorConfiguration, now: Date = Date()) {
        self.configuration = configuration
        domainID = Self.newID()
        adminAccountID = Self.newID()
        adminUserID = Self.newID()
        let created = Timestamp(now)

        var account = Account()
        account.id = adminAccountID
        account.name = "admin"
        account.accounttype = 1
        account.roleid = Self.roleID(admin: true)
        account.rolename = "Root Admin"
        account.roletype = "Admin"
        account.domainid = domainID
        account.domain = "ROOT"
        account.domainpath = "ROOT"
        account.state = "enabled"
        account.isdefault = true
        accounts[adminAccountID] = AccountRecord(account: account, userIDs: [adminUserID])
        accountOrder.append(adminAccountID)

        var user = User()
        user.id = adminUserID
        user.username = "admin"
        user.firstname = "Admin"
        user.lastname = "User"
        user.email = "admin@example.org"
        user.created = created
        user.state = "enabled"
        user.account = "admin"
        user.accounttype = 1
        user.usersource = "native"
        user.roleid = account.roleid
        user.roletype = "Admin"
        user.rolename = "Root Admin"
        user.domainid = domainID
        user.domain = "ROOT"
        user.apikey = configuration.apiKey ?? Self.newKey()
        user.accountid = adminAccountID
        user.iscallerchilddomain = false
        user.isdefault = true
        users[adminUserID] = UserRecord(user: user, secretKey: configuration.secretKey ?? Self.newKey())
        userByAPIKey[user.apikey!] = adminUserID

        var region = Region()
        region.id = configuration.regionID
        region.name = configuration.regionName
        region.endpoint = Self.placeholderEndpoint
        region.gslbserviceenabled = true
        region.portableipserviceenabled = false
        regions = [region]

        for spec in configuration.osTypes {
            var os = OsType()
            os.id = Self.newID()
            os.name = spec.description
            os.description = spec.description
            os.oscategoryid = Self.stableID("oscategory-\(spec.category)")
            os.oscategoryname = spec.category
            os.isuserdefined = false
            os.fordisplay = true
            osTypes.append(os)
        }
        for spec in configuration.serviceOfferings {
            var o = ServiceOffering()
            o.id = Self.newID()
            o.name = spec.name
            o.displaytext = spec.name
            o.cpunumber = spec.cpuNumber
            o.cpuspeed = spec.cpuSpeedMHz
            o.memory = spec.memoryMB
            o.created = created
            o.storagetype = "shared"
            o.provisioningtype = "thin"
            o.offerha = false
            o.limitcpuuse = false
            o.isvolatile = false
            o.issystem = false
            o.defaultuse = false
            o.iscustomized = false
            o.rootdisksize = Int64(spec.rootDiskGiB)
            offerings.append(o)
        }
        for (zi, spec) in configuration.zones.enumerated() {
            addZone(spec, index: zi, created: created)
        }
        for spec in configuration.builtinTemplates {
            addBuiltinTemplate(spec, created: created)
        }
        seedVirtualMachines(count: configuration.seedVirtualMachines, now: now)
    }

    /// A deterministic UUID-shaped id for fixed catalog entries.
    static func stableID(_ seed: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in seed.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        let a = String(h, radix: 16)
        let padded = String(repeating: "0", count: 16 - a.count) + a
        let s = Array(padded + padded.reversed())
        return "\(String(s[0..<8]))-\(String(s[8..<12]))-\(String(s[12..<16]))-\(String(s[16..<20]))-\(String(s[20..<32]))"
    }

    static func roleID(admin: Bool) -> String { stableID(admin ? "role-root-admin" : "role-user") }

    /// 64 random bytes, base64url without padding: 86 characters, like CloudStack's keys.
    static func newKey() -> String {
        var bytes = [UInt8](repeating: 0, count: 64)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<64 { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    mutating func addZone(_ spec: ZoneSpec, index: Int, created: Timestamp) {
        var zone = Zone()
        zone.id = Self.newID()
        zone.name = spec.name
        zone.description = "\(configuration.regionName) \(spec.name)"
        zone.dns1 = "192.0.2.53"
        zone.internaldns1 = "192.0.2.53"
        zone.guestcidraddress = spec.guestCIDR
        zone.networktype = "Advanced"
        zone.securitygroupsenabled = false
        zone.allocationstate = "Enabled"
        zone.zonetoken = Self.newID()
        zone.dhcpprovider = "VirtualRouter"
        zone.localstorageenabled = false
        zone.type = "Core"
        let zoneID = zone.id!
        let podID = Self.newID()
        let clusterID = Self.newID()
        let ips = Self.addressRange(start: spec.publicIPStart, count: spec.publicIPCount)

        var network = Network()
        network.id = Self.newID()
        network.name = "\(spec.name)-guest"
        network.displaytext = "Default guest network of \(spec.name)"
        network.broadcastdomaintype = "Vlan"
        network.traffictype = "Guest"
        let (gateway, netmask) = Self.gatewayAndNetmask(cidr: spec.guestCIDR)
        network.gateway = gateway
        network.netmask = netmask
        network.cidr = spec.guestCIDR
        network.zoneid = zoneID
        network.zonename = spec.name
        network.networkofferingid = Self.stableID("netoffering-isolated")
        network.networkofferingname = "DefaultIsolatedNetworkOfferingWithSourceNatService"
        network.state = "Implemented"
        network.dns1 = "192.0.2.53"
        network.type = "Isolated"
        network.account = "admin"
        network.domainid = domainID
        network.domain = "ROOT"
        network.isdefault = false
        network.canusefordeploy = true
        network.ispersistent = false
        network.specifyipranges = false
        network.physicalnetworkid = Self.newID()
        network.acltype = "Account"
        network.tags = []
        networks[network.id!] = network
        networkOrder.append(network.id!)

        zones.append(
            ZoneRecord(
                zone: zone, podID: podID, podName: "\(spec.name)-Pod1", clusterID: clusterID, clusterName: "\(spec.name)-Cluster1",
                primaryStorageTotal: Int64(spec.primaryStorageGiB) << 30, secondaryStorageTotal: Int64(spec.secondaryStorageGiB) << 30,
                publicIPs: ips, privateIPTotal: 20, privateIPUsed: 2, networkID: network.id!))

        // The source-NAT address of the guest network is taken from the range, as in CloudStack.
        if !ips.isEmpty {
            let ipID = allocatePublicIP(zoneIndex: zones.count - 1, networkID: network.id!, accountID: adminAccountID, now: created.date)
            publicIPs[ipID]?.issourcenat = true
            publicIPs[ipID]?.state = "Allocated"
        }

        for h in 0..<spec.hostCount {
            var host = ComputeHost()
            host.id = Self.newID()
            host.name = "\(spec.name.lowercased())-kvm\(String(format: "%02d", h + 1))"
            host.state = "Up"
            host.type = "Routing"
            host.ipaddress = "172.16.\(index).\(h + 10)"
            host.zoneid = zoneID
            host.zonename = spec.name
            host.podid = podID
            host.podname = "\(spec.name)-Pod1"
            host.version = configuration.cloudStackVersion
            host.hypervisor = spec.hypervisor
            host.hypervisorversion = spec.hypervisor == "KVM" ? "6.2.0" : nil
            host.cpunumber = spec.hostCPUCores
            host.cpuspeed = Int64(spec.hostCPUSpeedMHz)
            host.memorytotal = Int64(spec.hostMemoryGiB) << 30
            host.capabilities = "hvm"
            host.lastpinged = Timestamp(Date(timeIntervalSince1970: 1_600_000))
            host.clusterid = clusterID
            host.clustername = "\(spec.name)-Cluster1"
            host.clustertype = "CloudManaged"
            host.islocalstorageactive = false
            host.created = created
            host.events =
                "AgentConnected; PingTimeout; HostDown; AgentDisconnected; Ping; ShutdownRequested; Remove; StartAgentRebalance; ManagementServerDown"
            host.hahost = false
            host.resourcestate = "Enabled"
            let cpuTotal = Int64(Double(Int64(spec.hostCPUCores) * Int64(spec.hostCPUSpeedMHz)) * configuration.cpuOverprovisioning)
            hosts[host.id!] = HostRecord(host: host, cpuTotal: cpuTotal, memoryTotal: host.memorytotal!)
            hostOrder.append(host.id!)
        }
    }

    mutating func addBuiltinTemplate(_ spec: BuiltinTemplateSpec, created: Timestamp) {
        var t = newTemplate(
            name: spec.name, displayText: spec.name, format: spec.format, hypervisor: spec.hypervisor,
            os: osTypes.first { $0.description == spec.osType } ?? osTypes.first, accountName: "system", accountID: Self.systemAccountID,
            type: "BUILTIN", now: created.date)
        t.ispublic = true
        t.isfeatured = true
        t.crossZones = true
        t.isextractable = true
        t.url = "http://download.cloudstack.org/templates/4.11/macchinina-kvm.qcow2.bz2"
        var stores: [String: TemplateStoreRecord] = [:]
        for z in zones {
            stores[z.zone.id!] = TemplateStoreRecord(state: .downloaded, percent: 100, size: spec.sizeBytes, physicalSize: spec.sizeBytes / 4)
        }
        templates[t.id!] = TemplateRecord(
            template: t, accountID: Self.systemAccountID, registeredChecksum: nil, stores: stores, zoneOrder: zones.map { $0.zone.id! })
        templateOrder.append(t.id!)
    }

    /// A template with CloudStack's defaults for every field the caller does not set.
    func newTemplate(
        name: String, displayText: String, format: String, hypervisor: String?, os: OsType?, accountName: String?, accountID: String, type: String,
        now: Date
    ) -> Template {
        var t = Template()
        t.id = Self.newID()
        t.name = name
        t.displaytext = displayText
        t.ispublic = false
        t.created = Timestamp(now)
        t.passwordenabled = false
        t.format = format
        t.isfeatured = false
        t.crossZones = false
        t.ostypeid = os?.id
        t.ostypename = os?.description
        t.account = accountName
        t.accountid = accountID
        t.templatetype = type
        t.hypervisor = hypervisor
        t.domain = "ROOT"
        t.domainid = domainID
        t.isextractable = false
        t.details = [:]
        t.bits = 64
        t.sshkeyenabled = false
        t.isdynamicallyscalable = false
        t.directdownload = false
        t.deployasis = false
        t.requireshvm = true
        t.bootable = true
        return t
    }

    static func addressRange(start: String, count: Int) -> [String] {
        let parts = start.split(separator: ".").compactMap { UInt32($0) }
        guard parts.count == 4 else { return [] }
        let base = parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]
        return (0..<UInt32(max(0, count))).map { i in
            let v = base + i
            return "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255)"
        }
    }

    static func gatewayAndNetmask(cidr: String) -> (String, String) {
        let parts = cidr.split(separator: "/")
        let bits = parts.count == 2 ? Int(parts[1]) ?? 24 : 24
        let first = addressRange(start: String(parts[0]), count: 2).last ?? "10.1.1.1"
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - UInt32(bits))
        return (first, "\(mask >> 24).\(mask >> 16 & 255).\(mask >> 8 & 255).\(mask & 255)")
    }

    func zoneIndex(_ id: String) -> Int? { zones.firstIndex { $0.zone.id == id } }

    /// Takes the next free public address of a zone and records it as allocated.
    mutating func allocatePublicIP(zoneIndex: Int, networkID: String, accountID: String, now: Date) -> String {
        let zone = zones[zoneIndex]
        let used = Set(publicIPs.values.filter { $0.zoneid == zone.zone.id }.compactMap(\.ipaddress))
        let address = zone.publicIPs.first { !used.contains($0) } ?? ""
        var ip = PublicIpAddress()
        ip.id = Self.newID()
        ip.ipaddress = address
        ip.allocated = Timestamp(now)
        ip.zoneid = zone.zone.id
        ip.zonename = zone.zone.name
        ip.issourcenat = false
        ip.account = accounts[accountID]?.account.name
        ip.domainid = domainID
        ip.domain = "ROOT"
        ip.forvirtualnetwork = true
        ip.vlanid = Self.stableID("vlan-\(zone.zone.id!)")
        ip.vlanname = "vlan://untagged"
        ip.isstaticnat = false
        ip.issystem = false
        ip.associatednetworkid = networkID
        ip.associatednetworkname = networks[networkID]?.name
        ip.networkid = Self.stableID("public-network-\(zone.zone.id!)")
        ip.state = "Allocating"
        ip.physicalnetworkid = networks[networkID]?.physicalnetworkid
        ip.isportable = false
        ip.fordisplay = true
        publicIPs[ip.id!] = ip
        publicIPOrder.append(ip.id!)
        return ip.id!
    }
}
