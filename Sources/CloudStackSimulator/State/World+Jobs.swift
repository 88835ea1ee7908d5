import CloudStack
import Core
import Foundation

extension World {
    /// Records an async job that completes `jobDurationMilliseconds` from now, and answers
    /// `{"id": …, "jobid": …}` (create-style) or `{"jobid": …}`.
    mutating func submitJob(
        _ ctx: CommandContext, action: JobAction, cmdClass: String, instanceType: String? = nil, instanceID: String? = nil, createStyle: Bool = false
    ) -> Reply {
        var job = AsyncJob()
        job.accountid = ctx.caller.user.accountid
        job.userid = ctx.caller.user.id
        job.cmd = cmdClass
        job.jobstatus = 0
        job.jobprocstatus = 0
        job.jobresultcode = 0
        job.jobinstancetype = instanceType
        job.jobinstanceid = instanceID
        job.created = Timestamp(ctx.now)
        job.jobid = Self.newID()
        let readyAt = ctx.now.addingTimeInterval(Double(configuration.jobDurationMilliseconds) / 1000)
        jobs[job.jobid!] = JobRecord(job: job, action: action, readyAt: readyAt)
        pendingJobs.append(job.jobid!)
        var members: [(String, JSONValue)] = []
        if createStyle, let instanceID { members.append(("id", .string(instanceID))) }
        members.append(("jobid", .string(job.jobid!)))
        return .inner(.object(members))
    }

    /// Completes every job whose pending time is over, oldest first.
    mutating func advanceJobs(now: Date) {
        guard !pendingJobs.isEmpty else { return }
        var remaining: [String] = []
        for id in pendingJobs {
            guard var record = jobs[id] else { continue }
            guard record.readyAt <= now else {
                remaining.append(id)
                continue
            }
            do {
                let result = try perform(record.action, now: now)
                record.job.jobstatus = 1
                record.job.jobresultcode = 0
                record.job.jobresulttype = "object"
                record.job.jobresult = result
            } catch let error as APIError {
                record.job.jobstatus = 2
                record.job.jobresultcode = 530
                record.job.jobresulttype = "object"
                var members: [(String, JSONValue)] = [("uuidList", .array([])), ("errorcode", .int(Int64(error.errorCode)))]
                if let cs = error.csErrorCode { members.append(("cserrorcode", .int(Int64(cs)))) }
                members.append(("errortext", .string(error.text)))
                record.job.jobresult = .object(members)
            } catch {
                record.job.jobstatus = 2
                record.job.jobresultcode = 530
                record.job.jobresulttype = "object"
                record.job.jobresult = .object([("errorcode", .int(530)), ("errortext", .string("\(error)"))])
            }
            record.job.completed = Timestamp(now)
            record.done = true
            jobs[id] = record
        }
        pendingJobs = remaining
    }

    /// Runs a job's effect and returns its `jobresult`.
    mutating func perform(_ action: JobAction, now: Date) throws -> JSONValue {
        switch action {
        case .deployVM(let id): return try completeDeploy(vmID: id, now: now)
        case .startVM(let id): return try completeStart(vmID: id)
        case .stopVM(let id): return try completeStop(vmID: id)
        case .destroyVM(let id, let expunge): return try completeDestroy(vmID: id, expunge: expunge)
        case .deleteTemplate(let id, let zoneID): return try completeDeleteTemplate(id: id, zoneID: zoneID)
        case .createTemplate(let id):
            for z in templates[id]?.zoneOrder ?? [] where templates[id]?.stores[z]?.state == .inProgress {
                templates[id]?.stores[z]?.state = .downloaded
                templates[id]?.stores[z]?.percent = 100
            }
            return .object([("template", templateView(id: id, zoneID: templates[id]?.zoneOrder.first))])
        case .extractTemplate(let id, let zoneID): return completeExtract(id: id, zoneID: zoneID, now: now)
        case .createTags(let newTags):
            for tag in newTags { tags[tag.resourceid!, default: []].append(tag) }
            return .object([("success", .bool(true))])
        case .deleteTags(let ids, let type, let which):
            for id in ids {
                tags[id]?.removeAll { tag in
                    tag.resourcetype?.lowercased() == type.lowercased()
                        && (which.isEmpty || which.contains { $0.key == tag.key && ($0.value == nil || $0.value == "" || $0.value == tag.value) })
                }
            }
            return .object([("success", .bool(true))])
        case .associateIP(let id):
            publicIPs[id]?.state = "Allocated"
            return .object([("ipaddress", publicIPView(id))])
        case .createPortForwarding(let id):
            portForwardingRules[id]?.state = "Active"
            return .object([("portforwardingrule", encodeModel(portForwardingRules[id]))])
        case .createFirewall(let id):
            firewallRules[id]?.state = "Active"
            return .object([("firewallrule", encodeModel(firewallRules[id]))])
        case .deleteFirewall(let id):
            firewallRules[id] = nil
            firewallOrder.removeAll { $0 == id }
            tags[id] = nil
            return .object([("success", .bool(true))])
        case .disassociateIP(let id): return completeDisassociate(id: id)
        case .deletePortForwarding(let id): return completeDeletePortForwarding(id: id)
        }
    }

    /// The Java class CloudStack names in a job's `cmd`, for admin or user callers.
    static func commandClass(_ path: String, _ name: String, admin: Bool, adminVariant: Bool = true) -> String {
        admin && adminVariant
            ? "org.apache.cloudstack.api.command.admin.\(path).\(name)CmdByAdmin" : "org.apache.cloudstack.api.command.user.\(path).\(name)Cmd"
    }
}
