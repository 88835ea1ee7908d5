import CloudStack
import Core
import Foundation

extension World {
    /// Hosts of a zone that can take `cpu` MHz and `memory` bytes, in the order the allocator tries them.
    ///
    /// Like CloudStack's FirstFitAllocator: only `Up`/`Enabled` routing hosts whose free capacity
    /// (total minus used and reserved) fits the offering; `random` shuffles the list first.
    func candidateHosts(zoneID: String, cpu: Int64, memory: Int64) -> [String] {
        var ids = hostOrder.filter { id in
            guard let h = hosts[id], h.host.zoneid == zoneID, h.host.state == "Up", h.host.resourcestate == "Enabled" else { return false }
            return h.cpuTotal - h.cpuUsed - h.cpuReserved >= cpu && h.memoryTotal - h.memoryUsed - h.memoryReserved >= memory
        }
        if configuration.allocationAlgorithm == .random { ids.shuffle() }
        return ids
    }

    /// Puts a VM's CPU and memory on a host as used (running).
    mutating func holdRunning(vmID: String, hostID: String) {
        guard let vm = vms[vmID] else { return }
        hosts[hostID]?.cpuUsed += vm.cpuMHz
        hosts[hostID]?.memoryUsed += vm.memoryBytes
        vms[vmID]?.reservedHostID = hostID
        vms[vmID]?.vm.hostid = hostID
        vms[vmID]?.vm.hostname = hosts[hostID]?.host.name
    }

    /// Moves a running VM's hold to "reserved" (stopped VMs keep their place, as CloudStack reserves it).
    mutating func reserveStopped(vmID: String) {
        guard let vm = vms[vmID], let hostID = vm.reservedHostID else { return }
        hosts[hostID]?.cpuUsed -= vm.cpuMHz
        hosts[hostID]?.memoryUsed -= vm.memoryBytes
        hosts[hostID]?.cpuReserved += vm.cpuMHz
        hosts[hostID]?.memoryReserved += vm.memoryBytes
        vms[vmID]?.vm.hostid = nil
        vms[vmID]?.vm.hostname = nil
    }

    /// Releases whatever a VM holds on its host.
    mutating func release(vmID: String) {
        guard let vm = vms[vmID], let hostID = vm.reservedHostID else { return }
        if vm.vm.state == "Stopped" {
            hosts[hostID]?.cpuReserved -= vm.cpuMHz
            hosts[hostID]?.memoryReserved -= vm.memoryBytes
        } else {
            hosts[hostID]?.cpuUsed -= vm.cpuMHz
            hosts[hostID]?.memoryUsed -= vm.memoryBytes
        }
        vms[vmID]?.reservedHostID = nil
        vms[vmID]?.vm.hostid = nil
        vms[vmID]?.vm.hostname = nil
    }

    /// Creates a VM record (state `Starting`) with its NIC and ROOT volume; the host is chosen when the job runs.
    mutating func createVM(
        name: String?, displayName: String?, zone: ZoneRecord, template: TemplateRecord, offering: ServiceOffering, account: AccountRecord,
        user: UserRecord, networkID: String?, guestAddress: String? = nil, now: Date
    ) -> String {
        let id = Self.newID()
        vmCounter += 1
        let instance = "i-2-\(vmCounter)-VM"
        var vm = VirtualMachine()
        vm.id = id
        vm.name = name ?? "VM-\(id)"
        vm.displayname = displayName ?? vm.name
        vm.account = account.account.name
        vm.userid = user.user.id
        vm.username = user.user.username
        vm.domainid = domainID
        vm.domain = "ROOT"
        vm.created = Timestamp(now)
        vm.state = "Starting"
        vm.haenable = false
        vm.zoneid = zone.zone.id
        vm.zonename = zone.zone.name
        vm.templateid = template.template.id
        vm.templatename = template.template.name
        vm.templatedisplaytext = template.template.displaytext
        vm.passwordenabled = template.template.passwordenabled
        vm.serviceofferingid = offering.id
        vm.serviceofferingname = offering.name
        vm.cpunumber = offering.cpunumber
        vm.cpuspeed = offering.cpuspeed
        vm.memory = offering.memory
        vm.cpuused = "0%"
        vm.guestosid = template.template.ostypeid
        vm.rootdeviceid = 0
        vm.rootdevicetype = "ROOT"
        vm.securitygroup = []
        let netID = networkID ?? zone.networkID
        let network = networks[netID]
        var nic = Nic()
        nic.id = Self.newID()
        nic.networkid = netID
        nic.networkname = network?.name
        nic.netmask = network?.netmask
        nic.gateway = network?.gateway
        nic.ipaddress = guestAddress ?? nextGuestAddress(networkID: netID)
        nic.isolationuri = "vlan://\(1000 + (zoneIndex(zone.zone.id!) ?? 0))"
        nic.broadcasturi = nic.isolationuri
        nic.traffictype = "Guest"
        nic.type = "Isolated"
        nic.isdefault = true
        nic.macaddress = String(
            format: "02:00:%02x:%02x:%02x:%02x", vmCounter >> 24 & 255, vmCounter >> 16 & 255, vmCounter >> 8 & 255, vmCounter & 255)
        vm.nic = [nic]
        vm.hypervisor = template.template.hypervisor
        vm.instancename = instance
        vm.ostypeid = template.template.ostypeid
        vm.osdisplayname = template.template.ostypename
        vm.isdynamicallyscalable = false
        vm.displayvm = true
        vm.affinitygroup = []
        vm.details = [:]

        var volume = Volume()
        volume.id = Self.newID()
        volume.name = "ROOT-\(vmCounter)"
        volume.zoneid = zone.zone.id
        volume.zonename = zone.zone.name
        volume.type = "ROOT"
        volume.deviceid = 0
        volume.virtualmachineid = id
        volume.vmname = vm.name
        volume.vmstate = vm.state
        let templateSize = template.stores[zone.zone.id!]?.size ?? 0
        volume.size = max(templateSize, (offering.rootdisksize ?? 20) << 30)
        volume.created = Timestamp(now)
        volume.state = "Ready"
        volume.account = account.account.name
        volume.domainid = domainID
        volume.domain = "ROOT"
        volume.storagetype = "shared"
        volume.hypervisor = template.template.hypervisor
        volume.storage = "\(zone.zone.name!)-primary"
        volume.destroyed = false
        volume.isextractable = false
        volume.templateid = template.template.id
        volumes[volume.id!] = volume
        volumeOrder.append(volume.id!)

        vms[id] = VMRecord(vm: vm, accountID: account.account.id!, reservedHostID: nil, rootVolumeID: volume.id)
        vmOrder.append(id)
        return id
    }

    /// The first free guest address of a network (the gateway is `.1`).
    func nextGuestAddress(networkID: String) -> String {
        let cidr = networks[networkID]?.cidr ?? "10.1.1.0/24"
        var used = Set<String>()
        for record in vms.values {
            for nic in record.vm.nic ?? [] where nic.networkid == networkID {
                if let address = nic.ipaddress { used.insert(address) }
            }
        }
        var offset = 2
        while used.contains(Self.address(in: cidr, offset: offset)) { offset += 1 }
        return Self.address(in: cidr, offset: offset)
    }

    /// The address `offset` past a CIDR's network address.
    static func address(in cidr: String, offset: Int) -> String {
        let parts = cidr.split(separator: "/")[0].split(separator: ".").compactMap { UInt32($0) }
        guard parts.count == 4 else { return "10.1.1.\(offset)" }
        let v = (parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]) &+ UInt32(offset)
        return "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255)"
    }

    /// Creates `count` running VMs spread over the hosts, for scale tests.
    mutating func seedVirtualMachines(count: Int, now: Date) {
        guard count > 0, let template = templateOrder.first.flatMap({ templates[$0] }), let offering = offerings.first,
            let account = accounts[adminAccountID], let user = users[adminUserID]
        else { return }
        var hostsByZone: [String: [String]] = [:]
        for id in hostOrder { hostsByZone[hosts[id]?.host.zoneid ?? "", default: []].append(id) }
        for i in 0..<count {
            let zoneRecord = zones[i % zones.count]
            // Addresses are handed out in order, avoiding a free-address search per VM.
            let address = Self.address(in: networks[zoneRecord.networkID]?.cidr ?? "10.1.0.0/16", offset: 2 + i / zones.count)
            let id = createVM(
                name: nil, displayName: nil, zone: zoneRecord, template: template, offering: offering, account: account, user: user,
                networkID: nil, guestAddress: address, now: now)
            vms[id]?.vm.name = "seed-\(vmCounter)"
            vms[id]?.vm.displayname = "seed-\(vmCounter)"
            let hostIDs = hostsByZone[zoneRecord.zone.id ?? ""] ?? []
            guard !hostIDs.isEmpty else { continue }
            let hostID = hostIDs[i / zones.count % hostIDs.count]
            vms[id]?.vm.state = "Running"
            holdRunning(vmID: id, hostID: hostID)
            if let volumeID = vms[id]?.rootVolumeID { volumes[volumeID]?.vmstate = "Running" }
        }
    }
}
