import CloudStack
import Core
import Foundation

extension World {
    func listZones(_ ctx: CommandContext) throws -> Reply {
        let id = ctx.optional("id")
        let name = ctx.optional("name")
        let rows = zones.filter { z in
            (id == nil || z.zone.id == id) && (name == nil || z.zone.name == name) && ctx.matchesKeyword(z.zone.name)
                && (ctx.optional("networktype") == nil || z.zone.networktype?.lowercased() == ctx.optional("networktype")?.lowercased())
        }
        let showCapacities = ctx.bool("showcapacities") == true
        return try ctx.page(rows, objectName: "zone") { z in
            var zone = z.zone
            zone.tags = tags[z.zone.id!] ?? []
            var value = encodeModel(zone)
            if showCapacities {
                value = value.setting("capacity", .array(capacities(zoneID: z.zone.id, type: nil).map(encodeModel)))
            }
            return value
        }
    }

    func listHosts(_ ctx: CommandContext) throws -> Reply {
        let id = ctx.optional("id")
        let zoneID = ctx.optional("zoneid")
        let type = ctx.optional("type")?.lowercased()
        let state = ctx.optional("state")?.lowercased()
        let name = ctx.optional("name")
        let clusterID = ctx.optional("clusterid")
        let podID = ctx.optional("podid")
        var rows = hostOrder.compactMap { hosts[$0] }.filter { (h: HostRecord) -> Bool in
            let host = h.host
            if let id, host.id != id { return false }
            if let zoneID, host.zoneid != zoneID { return false }
            if let type, host.type?.lowercased() != type { return false }
            if let state, host.state?.lowercased() != state { return false }
            if let name, host.name != name { return false }
            if let clusterID, host.clusterid != clusterID { return false }
            if let podID, host.podid != podID { return false }
            return ctx.matchesKeyword(host.name)
        }
        if let vmID = ctx.optional("virtualmachineid") {
            let hostID = vms[vmID]?.vm.hostid
            rows = rows.filter { $0.host.id == hostID }
        }
        return try ctx.page(rows, objectName: "host") { encodeModel(hostView($0)) }
    }

    func listCapacity(_ ctx: CommandContext) throws -> Reply {
        let zoneID = ctx.optional("zoneid")
        if let zoneID, zoneIndex(zoneID) == nil { throw APIError.unknownEntity(ctx.command, "zoneid", zoneID) }
        var rows = capacities(zoneID: zoneID, type: try ctx.int("type"))
        if ctx.optional("sortby") == "usage" {
            rows.sort { (Double($0.percentused ?? "0") ?? 0) > (Double($1.percentused ?? "0") ?? 0) }
        }
        return try ctx.page(rows, objectName: "capacity") { encodeModel($0) }
    }

    func listServiceOfferings(_ ctx: CommandContext) throws -> Reply {
        let id = ctx.optional("id")
        let name = ctx.optional("name")
        let rows = offerings.filter { o in
            (id == nil || o.id == id) && (name == nil || o.name == name) && ctx.matchesKeyword(o.name)
                && (ctx.bool("issystem") != true)
        }
        return try ctx.page(rows, objectName: "serviceoffering") { encodeModel($0) }
    }

    func listOsTypes(_ ctx: CommandContext) throws -> Reply {
        let id = ctx.optional("id")
        let description = ctx.optional("description")?.lowercased()
        let category = ctx.optional("oscategoryid")
        // CloudStack matches `description` with SQL LIKE %…% (case-insensitive collation).
        let rows = osTypes.filter { os in
            (id == nil || os.id == id) && (description == nil || os.description!.lowercased().contains(description!))
                && (category == nil || os.oscategoryid == category) && ctx.matchesKeyword(os.description)
        }
        return try ctx.page(rows, objectName: "ostype") { encodeModel($0) }
    }

    func listNetworks(_ ctx: CommandContext) throws -> Reply {
        let id = ctx.optional("id")
        let zoneID = ctx.optional("zoneid")
        let rows = networkOrder.compactMap { networks[$0] }.filter { n in
            (id == nil || n.id == id) && (zoneID == nil || n.zoneid == zoneID) && ctx.matchesKeyword(n.name)
        }
        return try ctx.page(rows, objectName: "network") { n in
            var net = n
            net.tags = tags[n.id!] ?? []
            return encodeModel(net)
        }
    }

    func listCapabilities(_ ctx: CommandContext) -> Reply {
        var c = Capabilities()
        c.securitygroupsenabled = false
        c.dynamicrolesenabled = true
        c.cloudstackversion = configuration.cloudStackVersion
        c.userpublictemplateenabled = true
        c.supportELB = "false"
        c.projectinviterequired = false
        c.allowusercreateprojects = true
        c.customdiskofferingminsize = 1
        c.customdiskofferingmaxsize = 1024
        c.regionsecondaryenabled = false
        c.kvmsnapshotenabled = false
        c.apilimitinterval = 1
        c.apilimitmax = 25
        c.allowuserviewdestroyedvm = false
        c.allowuserexpungerecovervm = false
        c.kubernetesserviceenabled = false
        c.kubernetesclusterexperimentalfeaturesenabled = false
        c.defaultuipagesize = 20
        return .object("capability", encodeModel(c))
    }

    func queryAsyncJobResult(_ ctx: CommandContext) throws -> Reply {
        let jobID = try ctx.required("jobid")
        guard let record = jobs[jobID] else { throw APIError.param("Unable to find a job by id \(jobID)", cs: 9999) }
        if !ctx.isAdmin, record.job.userid != ctx.caller.user.id {
            throw APIError(
                errorCode: 531, csErrorCode: 4365, text: "Account \(ctx.caller.user.account ?? "") does not have permission to access job \(jobID)")
        }
        return .inner(encodeModel(record.job))
    }

    func listAsyncJobs(_ ctx: CommandContext) throws -> Reply {
        let rows = jobs.values.filter { ctx.isAdmin || $0.job.userid == ctx.caller.user.id }.sorted { $0.job.created! < $1.job.created! }
        return try ctx.page(rows, objectName: "asyncjobs") { encodeModel($0.job) }
    }
}
