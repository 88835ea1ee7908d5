import CloudStack
import Core
import Foundation

extension World {
    /// `percentused` as CloudStack's `DecimalFormat("##.##")` prints it: at most two decimals, no trailing zeros.
    static func percentString(used: Int64, total: Int64) -> String {
        guard total > 0 else { return "0" }
        let value = (Double(used) / Double(total) * 100 * 100).rounded(.toNearestOrEven) / 100
        var text = String(format: "%.2f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// A host as `listHosts` shows it, with its allocation figures filled in from the VMs it holds.
    func hostView(_ record: HostRecord) -> ComputeHost {
        var h = record.host
        let allocatedCPU = record.cpuUsed + record.cpuReserved
        let allocatedMemory = record.memoryUsed + record.memoryReserved
        let rawCPU = Int64(h.cpunumber ?? 0) * (h.cpuspeed ?? 0)
        let cpuPercent = Self.percentString(used: allocatedCPU, total: rawCPU) + "%"
        h.cpuallocated = cpuPercent
        h.cpuallocatedvalue = allocatedCPU
        h.cpuallocatedpercentage = cpuPercent
        h.cpuallocatedwithoverprovisioning = Self.percentString(used: allocatedCPU, total: record.cpuTotal) + "%"
        h.cpuused = Self.percentString(used: record.cpuUsed / 2, total: rawCPU) + "%"
        h.cpuwithoverprovisioning = String(record.cpuTotal)
        h.memorywithoverprovisioning = String(record.memoryTotal)
        h.memoryallocated = allocatedMemory
        h.memoryallocatedpercentage = Self.percentString(used: allocatedMemory, total: record.memoryTotal) + "%"
        h.memoryallocatedbytes = allocatedMemory
        h.memoryused = record.memoryUsed
        return h
    }

    /// `listCapacity` rows for every zone (or one), computed from hosts, VMs, volumes, templates and addresses.
    func capacities(zoneID: String?, type: Int?) -> [Capacity] {
        var rows: [Capacity] = []
        for zone in zones where zoneID == nil || zone.zone.id == zoneID {
            let zid = zone.zone.id!
            var cpuTotal: Int64 = 0
            var cpuUsed: Int64 = 0
            var cpuAllocated: Int64 = 0
            var memTotal: Int64 = 0
            var memUsed: Int64 = 0
            var memAllocated: Int64 = 0
            var coresTotal: Int64 = 0
            for id in hostOrder {
                guard let h = hosts[id], h.host.zoneid == zid else { continue }
                cpuTotal += h.cpuTotal
                cpuUsed += h.cpuUsed
                cpuAllocated += h.cpuUsed + h.cpuReserved
                memTotal += h.memoryTotal
                memUsed += h.memoryUsed
                memAllocated += h.memoryUsed + h.memoryReserved
                coresTotal += Int64(h.host.cpunumber ?? 0)
            }
            var coresUsed: Int64 = 0
            var storageUsed: Int64 = 0
            for record in vms.values where record.vm.zoneid == zid && record.vm.state == "Running" {
                coresUsed += Int64(record.vm.cpunumber ?? 0)
            }
            for volume in volumes.values where volume.zoneid == zid {
                storageUsed += volume.size ?? 0
            }
            var secondaryUsed: Int64 = 0
            for record in templates.values where !record.removed {
                if let store = record.stores[zid], store.state == .downloaded { secondaryUsed += store.physicalSize ?? store.size ?? 0 }
            }
            let ipsUsed = Int64(publicIPs.values.filter { $0.zoneid == zid }.count)
            func row(_ t: CapacityType, used: Int64, total: Int64, allocated: Int64? = nil) -> Capacity {
                var c = Capacity()
                c.type = t.rawValue
                c.name = t.name
                c.zoneid = zid
                c.zonename = zone.zone.name
                c.capacityallocated = allocated ?? used
                c.capacityused = used
                c.capacitytotal = total
                c.percentused = Self.percentString(used: used, total: total)
                return c
            }
            rows.append(row(.memory, used: memUsed, total: memTotal, allocated: memAllocated))
            rows.append(row(.cpu, used: cpuUsed, total: cpuTotal, allocated: cpuAllocated))
            rows.append(row(.storage, used: storageUsed, total: zone.primaryStorageTotal))
            rows.append(row(.storageAllocated, used: storageUsed, total: zone.primaryStorageTotal))
            rows.append(row(.virtualNetworkPublicIP, used: ipsUsed, total: Int64(zone.publicIPs.count)))
            rows.append(row(.privateIP, used: zone.privateIPUsed, total: zone.privateIPTotal))
            rows.append(row(.secondaryStorage, used: secondaryUsed, total: zone.secondaryStorageTotal))
            rows.append(row(.cpuCore, used: coresUsed, total: coresTotal))
        }
        if let type { rows = rows.filter { $0.type == type } }
        return rows
    }
}
