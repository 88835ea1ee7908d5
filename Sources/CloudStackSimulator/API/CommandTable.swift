import CloudStack
import Core
import Foundation

/// The commands the simulator answers, each a step on the ``World``.
enum CommandTable {
    typealias Handler = @Sendable (inout World, CommandContext) throws -> Reply

    static let handlers: [String: Handler] = [
        "listZones": { w, c in try w.listZones(c) },
        "listHosts": { w, c in try w.listHosts(c) },
        "listCapacity": { w, c in try w.listCapacity(c) },
        "listServiceOfferings": { w, c in try w.listServiceOfferings(c) },
        "listOsTypes": { w, c in try w.listOsTypes(c) },
        "listNetworks": { w, c in try w.listNetworks(c) },
        "listCapabilities": { w, c in w.listCapabilities(c) },
        "listApis": { _, c in try listApis(c) },
        "queryAsyncJobResult": { w, c in try w.queryAsyncJobResult(c) },
        "listAsyncJobs": { w, c in try w.listAsyncJobs(c) },
        "listVirtualMachines": { w, c in try w.listVirtualMachines(c) },
        "deployVirtualMachine": { w, c in try w.deployVirtualMachine(c) },
        "startVirtualMachine": { w, c in try w.startVirtualMachine(c) },
        "stopVirtualMachine": { w, c in try w.stopVirtualMachine(c) },
        "destroyVirtualMachine": { w, c in try w.destroyVirtualMachine(c) },
        "listVolumes": { w, c in try w.listVolumes(c) },
        "createConsoleEndpoint": { w, c in try w.createConsoleEndpoint(c) },
        "registerTemplate": { w, c in try w.registerTemplate(c) },
        "listTemplates": { w, c in try w.listTemplates(c) },
        "updateTemplate": { w, c in try w.updateTemplate(c) },
        "updateTemplatePermissions": { w, c in try w.updateTemplatePermissions(c) },
        "deleteTemplate": { w, c in try w.deleteTemplate(c) },
        "createTemplate": { w, c in try w.createTemplate(c) },
        "extractTemplate": { w, c in try w.extractTemplate(c) },
        "createTags": { w, c in try w.createTags(c) },
        "deleteTags": { w, c in try w.deleteTags(c) },
        "listTags": { w, c in try w.listTags(c) },
        "listRegions": { w, c in try w.listRegions(c) },
        "listConfigurations": { w, c in try w.listConfigurations(c) },
        "updateConfiguration": { w, c in try w.updateConfiguration(c) },
        "addRegion": { w, c in try w.addRegion(c) },
        "updateRegion": { w, c in try w.updateRegion(c) },
        "removeRegion": { w, c in try w.removeRegion(c) },
        "listAccounts": { w, c in try w.listAccounts(c) },
        "createAccount": { w, c in try w.createAccount(c) },
        "listUsers": { w, c in try w.listUsers(c) },
        "registerUserKeys": { w, c in try w.registerUserKeys(c) },
        "getUserKeys": { w, c in try w.getUserKeys(c) },
        "associateIpAddress": { w, c in try w.associateIpAddress(c) },
        "listPublicIpAddresses": { w, c in try w.listPublicIpAddresses(c) },
        "createPortForwardingRule": { w, c in try w.createPortForwardingRule(c) },
        "listPortForwardingRules": { w, c in try w.listPortForwardingRules(c) },
        "createFirewallRule": { w, c in try w.createFirewallRule(c) },
        "listFirewallRules": { w, c in try w.listFirewallRules(c) },
        "deleteFirewallRule": { w, c in try w.deleteFirewallRule(c) },
        "disassociateIpAddress": { w, c in try w.disassociateIpAddress(c) },
        "deletePortForwardingRule": { w, c in try w.deletePortForwardingRule(c) },
        "registerSSHKeyPair": { w, c in try w.registerSSHKeyPair(c) },
        "deleteSSHKeyPair": { w, c in try w.deleteSSHKeyPair(c) },
        "listSSHKeyPairs": { w, c in try w.listSSHKeyPairs(c) },
    ]

    /// The handler of `command`: its own, or for a `list*` command of the catalog that is not modelled, an empty list.
    static func handler(for command: String) -> Handler? {
        if let handler = handlers[command] { return handler }
        guard APICatalog.shared.isUnmodelledList(command) else { return nil }
        return { _, _ in .list("", [], count: 0) }
    }

    /// Commands only a root admin may call (others get CloudStack's 401 for unavailable commands).
    static let adminOnly: Set<String> = [
        "listHosts", "listCapacity", "addRegion", "updateRegion", "removeRegion", "createAccount", "listConfigurations", "updateConfiguration",
    ]

    static func listApis(_ ctx: CommandContext) throws -> Reply {
        let catalog = APICatalog.shared
        var entries = catalog.entries.filter { entry in
            let name = entry["name"]?.stringValue ?? ""
            return ctx.isAdmin || !adminOnly.contains(name)
        }
        if let name = ctx.optional("name") {
            entries = entries.filter { $0["name"]?.stringValue == name }
            if entries.isEmpty {
                throw APIError(
                    errorCode: 530, csErrorCode: 4250, text: "Api Discovery plugin was unable to find an api by that name or process any apis")
            }
        }
        return .list("api", entries, count: entries.count)
    }
}
