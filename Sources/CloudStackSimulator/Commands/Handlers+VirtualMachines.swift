import CloudStack
import Core
import Foundation

extension World {
    /// A VM as CloudStack shows it, with its tags.
    func vmView(_ id: String) -> JSONValue {
        guard var vm = vms[id]?.vm else { return .object([]) }
        vm.tags = tags[id] ?? []
        if let ipID = staticNATByVM[id], let ip = publicIPs[ipID] {
            vm.publicip = ip.ipaddress
            vm.publicipid = ip.id
        }
        return encodeModel(vm)
    }

    func vmVisible(_ record: VMRecord, _ ctx: CommandContext) -> Bool {
        if ctx.isAdmin, ctx.bool("listall") == true { return true }
        if ctx.isAdmin, let account = ctx.optional("account") { return record.vm.account == account }
        return record.accountID == ctx.callerAccountID
    }

    func listVirtualMachines(_ ctx: CommandContext) throws -> Reply {
        let id = ctx.optional("id")
        let ids = Set(ctx.list("ids"))
        let filters: [(String, KeyPath<VirtualMachine, String?>)] = [
            ("zoneid", \.zoneid), ("templateid", \.templateid), ("serviceofferingid", \.serviceofferingid), ("hostid", \.hostid), ("name", \.name),
        ]
        let active = filters.compactMap { name, path in ctx.optional(name).map { (path, $0) } }
        let state = ctx.optional("state")?.lowercased()
        let networkID = ctx.optional("networkid")
        let wantedTags = ctx.tags()
        let rows = vmOrder.filter { vid in
            guard let record = vms[vid], vmVisible(record, ctx) else { return false }
            if let id, vid != id { return false }
            if !ids.isEmpty, !ids.contains(vid) { return false }
            for (path, value) in active where record.vm[keyPath: path] != value { return false }
            if let state, record.vm.state?.lowercased() != state { return false }
            if let networkID, !(record.vm.nic ?? []).contains(where: { $0.networkid == networkID }) { return false }
            guard (tags[vid] ?? []).includesAll(wantedTags) else { return false }
            return ctx.matchesKeyword(record.vm.name, record.vm.displayname)
        }
        return try ctx.page(rows, objectName: "virtualmachine") { vmView($0) }
    }

    mutating func deployVirtualMachine(_ ctx: CommandContext) throws -> Reply {
        let zoneID = try ctx.required("zoneid")
        let templateID = try ctx.required("templateid")
        let offeringID = try ctx.required("serviceofferingid")
        guard let zi = zoneIndex(zoneID) else { throw APIError.unknownEntity(ctx.command, "zoneid", zoneID) }
        guard let template = templates[templateID], !template.removed else { throw APIError.unknownEntity(ctx.command, "templateid", templateID) }
        guard let offering = offerings.first(where: { $0.id == offeringID }) else {
            throw APIError.unknownEntity(ctx.command, "serviceofferingid", offeringID)
        }
        guard template.stores[zoneID]?.state == .downloaded else {
            throw APIError.param("Template \(templateID) has not been completely downloaded to zone \(zoneID)")
        }
        if template.template.ispublic != true, !ctx.isAdmin, template.accountID != ctx.callerAccountID {
            throw APIError(
                errorCode: 531, csErrorCode: 4365,
                text: "Account \(ctx.caller.user.account ?? "") does not have permission to use template \(templateID)")
        }
        var networkID: String?
        if let nets = ctx.optional("networkids") {
            let first = nets.split(separator: ",").map(String.init).first ?? nets
            guard let network = networks[first] else { throw APIError.unknownEntity(ctx.command, "networkids", first) }
            guard network.zoneid == zoneID else { throw APIError.param("Network \(first) doesn't belong to zone \(zoneID)") }
            networkID = first
        }
        if let name = ctx.optional("name") {
            let valid =
                name.count <= 63 && name.first?.isLetter == true && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
                && name.last != "-"
            guard valid else {
                throw APIError.param(
                    "Invalid name. Vm name can contain ASCII letters 'a' through 'z', the digits '0' through '9', and the hyphen ('-'), must be between 1 and 63 characters long, and can't start or end with \"-\" and can't start with digit"
                )
            }
            if vms.values.contains(where: { $0.vm.name == name && $0.vm.zoneid == zoneID && $0.vm.state != "Expunging" && $0.vm.state != "Destroyed" }
            ) {
                throw APIError.param(
                    "The vm with hostName \(name) already exists in the network domain: cs\(zi + 1)cloud.internal; network=\(networkID ?? zones[zi].networkID)"
                )
            }
        }
        let account = accounts[ctx.callerAccountID] ?? accounts[adminAccountID]!
        let userData = try Self.userData(ctx)
        let keyPairs = try (ctx.optional("keypairs").map { $0.split(separator: ",").map(String.init) } ?? ctx.optional("keypair").map { [$0] } ?? [])
            .map { try keyPair(named: $0, account: account.account.id ?? ctx.callerAccountID).pair.name ?? $0 }
        let id = createVM(
            name: ctx.optional("name"), displayName: ctx.optional("displayname"), zone: zones[zi], template: template, offering: offering,
            account: account, user: ctx.caller, networkID: networkID, now: ctx.now)
        if let group = ctx.optional("group") { vms[id]?.vm.group = group }
        vms[id]?.userData = userData
        if !keyPairs.isEmpty { vms[id]?.vm.keypairs = keyPairs.joined(separator: ",") }
        if ctx.bool("startvm") == false {
            vms[id]?.vm.state = "Stopped"
            return submitJob(
                ctx, action: .stopVM(id: id), cmdClass: Self.commandClass("vm", "DeployVM", admin: ctx.isAdmin), instanceType: "VirtualMachine",
                instanceID: id, createStyle: true)
        }
        return submitJob(
            ctx, action: .deployVM(id: id), cmdClass: Self.commandClass("vm", "DeployVM", admin: ctx.isAdmin), instanceType: "VirtualMachine",
            instanceID: id, createStyle: true)
    }

    /// Places a VM on a host, or fails like CloudStack's planner when nothing fits (533).
    mutating func place(vmID: String, preferred: String? = nil) throws {
        guard let record = vms[vmID] else { throw APIError.internalError("Unable to find VM \(vmID)") }
        if let preferred, let h = hosts[preferred], h.cpuTotal - h.cpuUsed - h.cpuReserved >= record.cpuMHz,
            h.memoryTotal - h.memoryUsed - h.memoryReserved >= record.memoryBytes
        {
            holdRunning(vmID: vmID, hostID: preferred)
            return
        }
        guard let hostID = candidateHosts(zoneID: record.vm.zoneid ?? "", cpu: record.cpuMHz, memory: record.memoryBytes).first else {
            let zoneDBID = (zoneIndex(record.vm.zoneid ?? "") ?? 0) + 1
            throw APIError(
                errorCode: 533, csErrorCode: 4335,
                text:
                    "Unable to create a deployment for VM instance {\"id\":\(vmCounter),\"instanceName\":\"\(record.vm.instancename ?? "")\",\"uuid\":\"\(vmID)\",\"type\":\"User\"}; Insufficient capacity to deploy in zone \(zoneDBID) (Zone\(zoneDBID))"
            )
        }
        holdRunning(vmID: vmID, hostID: hostID)
    }

    mutating func completeDeploy(vmID: String, now: Date) throws -> JSONValue {
        do {
            try place(vmID: vmID)
        } catch {
            vms[vmID]?.vm.state = "Error"
            throw error
        }
        setVMState(vmID, "Running")
        startGuest(vmID: vmID, now: now)
        return .object([("virtualmachine", vmView(vmID))])
    }

    mutating func setVMState(_ id: String, _ state: String) {
        vms[id]?.vm.state = state
        if let volumeID = vms[id]?.rootVolumeID { volumes[volumeID]?.vmstate = state }
    }

    func requireVM(_ ctx: CommandContext) throws -> VMRecord {
        let id = try ctx.required("id")
        guard let record = vms[id], record.vm.state != "Expunging" else { throw APIError.unknownEntity(ctx.command, "id", id) }
        try checkOwner(record.accountID, ctx)
        return record
    }

    mutating func startVirtualMachine(_ ctx: CommandContext) throws -> Reply {
        let record = try requireVM(ctx)
        let id = record.vm.id!
        if record.vm.state == "Running" {
            throw APIError.param("Unable to start VM instance \(id) as it is already running")
        }
        guard record.vm.state == "Stopped" else {
            throw APIError.param("Unable to start VM instance \(id) as it is in state \(record.vm.state ?? "")")
        }
        setVMState(id, "Starting")
        return submitJob(
            ctx, action: .startVM(id: id), cmdClass: Self.commandClass("vm", "StartVM", admin: ctx.isAdmin), instanceType: "VirtualMachine",
            instanceID: id)
    }

    mutating func completeStart(vmID: String) throws -> JSONValue {
        let last = vms[vmID]?.reservedHostID
        // Drop the stopped reservation, then place again (preferring the last host, as CloudStack does).
        vms[vmID]?.vm.state = "Stopped"
        release(vmID: vmID)
        do {
            try place(vmID: vmID, preferred: last)
        } catch {
            setVMState(vmID, "Stopped")
            throw error
        }
        setVMState(vmID, "Running")
        return .object([("virtualmachine", vmView(vmID))])
    }

    mutating func stopVirtualMachine(_ ctx: CommandContext) throws -> Reply {
        let record = try requireVM(ctx)
        let id = record.vm.id!
        guard record.vm.state == "Running" || record.vm.state == "Stopped" else {
            throw APIError.param("Unable to stop VM instance \(id) in state \(record.vm.state ?? "")")
        }
        if record.vm.state == "Running" { setVMState(id, "Stopping") }
        return submitJob(
            ctx, action: .stopVM(id: id), cmdClass: Self.commandClass("vm", "StopVM", admin: ctx.isAdmin), instanceType: "VirtualMachine",
            instanceID: id)
    }

    mutating func completeStop(vmID: String) throws -> JSONValue {
        if vms[vmID]?.vm.state == "Stopping" {
            vms[vmID]?.vm.state = "Running"
            reserveStopped(vmID: vmID)
        }
        setVMState(vmID, "Stopped")
        return .object([("virtualmachine", vmView(vmID))])
    }

    mutating func destroyVirtualMachine(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.required("id")
        guard let record = vms[id], record.vm.state != "Expunging" else { throw APIError.unknownEntity(ctx.command, "id", id) }
        try checkOwner(record.accountID, ctx)
        let expunge = ctx.bool("expunge") ?? false
        if expunge, !ctx.isAdmin {
            throw APIError(
                errorCode: 531, csErrorCode: 4365,
                text: "Parameter expunge can be passed by Admin only. Or when the allow.user.expunge.recover.vm key is set.")
        }
        if record.vm.state == "Destroyed", !expunge {
            throw APIError.param("Unable to destroy VM instance \(id) as it is already destroyed")
        }
        return submitJob(
            ctx, action: .destroyVM(id: id, expunge: expunge), cmdClass: Self.commandClass("vm", "DestroyVM", admin: ctx.isAdmin),
            instanceType: "VirtualMachine", instanceID: id)
    }

    mutating func completeDestroy(vmID: String, expunge: Bool) throws -> JSONValue {
        guard vms[vmID] != nil else { throw APIError.internalError("Failed to destroy Instance") }
        release(vmID: vmID)
        setVMState(vmID, expunge ? "Expunging" : "Destroyed")
        let view = vmView(vmID)
        if expunge {
            if let volumeID = vms[vmID]?.rootVolumeID {
                volumes[volumeID] = nil
                volumeOrder.removeAll { $0 == volumeID }
            }
            // CloudStack revokes the VM's port forwarding (and the firewall rules it opened) on expunge.
            for (ruleID, rule) in portForwardingRules where rule.virtualmachineid == vmID { _ = completeDeletePortForwarding(id: ruleID) }
            vms[vmID] = nil
            vmOrder.removeAll { $0 == vmID }
            tags[vmID] = nil
        }
        return .object([("virtualmachine", view)])
    }

    func listVolumes(_ ctx: CommandContext) throws -> Reply {
        let vmID = ctx.optional("virtualmachineid")
        let type = ctx.optional("type")?.uppercased()
        let id = ctx.optional("id")
        let zoneID = ctx.optional("zoneid")
        let rows = volumeOrder.filter { vid in
            guard let v = volumes[vid] else { return false }
            if let id, vid != id { return false }
            if let vmID, v.virtualmachineid != vmID { return false }
            if let type, v.type != type { return false }
            if let zoneID, v.zoneid != zoneID { return false }
            if !ctx.isAdmin, v.account != ctx.caller.user.account { return false }
            return ctx.matchesKeyword(v.name)
        }
        return try ctx.page(rows, objectName: "volume") { vid in
            var v = volumes[vid]!
            v.tags = tags[vid] ?? []
            return encodeModel(v)
        }
    }

    mutating func createConsoleEndpoint(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.required("virtualmachineid")
        guard let record = vms[id], record.vm.state != "Expunging" else { throw APIError.unknownEntity(ctx.command, "virtualmachineid", id) }
        try checkOwner(record.accountID, ctx)
        var endpoint = ConsoleEndpoint()
        guard record.vm.state == "Running" else {
            endpoint.success = false
            endpoint.details =
                "Cannot create a console endpoint for the VM \(record.vm.instancename ?? id) as it is in \(record.vm.state ?? "") state"
            return .object("consoleendpoint", encodeModel(endpoint))
        }
        // CloudStack's token is an encrypted session; here a fresh random one, good for one websocket.
        let token = World.newKey()
        consoleTokens = consoleTokens ?? [:]
        consoleTokens![token] = id
        let host = URLComponents(string: baseURL)?.host ?? "127.0.0.1"
        let port = URLComponents(string: baseURL)?.port ?? 80
        endpoint.success = true
        endpoint.url = "\(baseURL)/resource/noVNC/vnc.html?autoconnect=true&port=\(port)&token=\(token)"
        var ws = ConsoleEndpoint.Websocket()
        ws.token = token
        ws.host = host
        ws.port = String(port)
        ws.path = "websockify"
        ws.extra = ctx.optional("token")
        endpoint.websocket = ws
        return .object("consoleendpoint", encodeModel(endpoint))
    }
}
