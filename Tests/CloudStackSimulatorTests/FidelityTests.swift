import CloudStack
import Core
import Foundation
import Testing

@testable import CloudStackSimulator

/// The JSON kind of a value, for comparing field types with recorded answers.
func kind(_ v: JSONValue) -> String {
    switch v {
    case .null: "null"
    case .bool: "bool"
    case .int, .double: "number"
    case .string: "string"
    case .array: "array"
    case .object: "object"
    }
}

/// Field name → JSON kind over every object in `objects`.
func fieldKinds(_ objects: [JSONValue]) -> [String: String] {
    var out: [String: String] = [:]
    for o in objects { for (k, v) in o.objectMembers ?? [] { out[k] = kind(v) } }
    return out
}

func recordedFile(_ name: String) throws -> JSONValue {
    let url = try #require(Bundle.module.url(forResource: "Resources/\(name)", withExtension: "json"))
    return try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: url))
}

/// The top-level response field names CloudStack 4.18 documents for `command` (listApis).
func documentedFields(_ command: String) -> Set<String> {
    Set((APICatalog.shared.apis[command]?.response ?? []).compactMap { $0["name"]?.stringValue })
}

/// Checks that every field the simulator sends is one CloudStack 4.18 documents (or sends in a
/// recorded answer), and that fields present in both have the same JSON type.
func expectFaithful(_ ours: [JSONValue], recorded: [JSONValue], command: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let mine = fieldKinds(ours)
    let theirs = fieldKinds(recorded)
    let documented = documentedFields(command)
    #expect(!mine.isEmpty, "no objects to compare for \(command)", sourceLocation: sourceLocation)
    for (field, k) in mine {
        #expect(
            theirs[field] != nil || documented.contains(field), "\(command): field \(field) is neither documented nor recorded",
            sourceLocation: sourceLocation)
        if let t = theirs[field], t != "null" {
            #expect(k == t, "\(command): field \(field) is \(k), CloudStack sends \(t)", sourceLocation: sourceLocation)
        }
    }
}

@Suite("Field names, types and shapes match recorded CloudStack answers")
struct FidelityTests {
    @Test("VMs, templates, hosts, offerings, users, addresses, firewall rules and job results")
    func matchesRecorded() async throws {
        try await FileServer.withRunning(["img.qcow2": sampleImage(size: 4096)]) { files in
            try await Simulator.withRunning(config(), logger: logger) { sim in
                let cs = makeClient(sim)
                let zone = try await cs.listZones(logger: logger)[0]
                let template = try await cs.listTemplates(filter: .featured, logger: logger)[0]
                let offering = try await cs.listServiceOfferings(logger: logger)[0]
                let vm = try await cs.deployVirtualMachine(
                    .init(zoneID: zone.id!, templateID: template.id!, serviceOfferingID: offering.id!), logger: logger)

                let vmFile = try recordedFile("VirtualMachineService")
                let vms = try await rawCall(sim, ["command": "listVirtualMachines", "listall": "true"])
                expectFaithful(
                    vms.json?["listvirtualmachinesresponse"]?["virtualmachine"]?.arrayValue ?? [],
                    recorded: vmFile["listVirtualMachines"]?["count"] == nil
                        ? (vmFile["listVirtualMachines"]?["listVirtualMachines"]?["virtualmachine"]?.arrayValue ?? [])
                        : (vmFile["listVirtualMachines"]?["virtualmachine"]?.arrayValue ?? []),
                    command: "listVirtualMachines")
                let deployJob = vmFile["deployVirtualMachine"]?["deployvirtualmachineresponse"]
                expectFaithful(
                    [
                        try #require(
                            await rawCall(sim, ["command": "listVirtualMachines", "id": vm.id!]).json?["listvirtualmachinesresponse"]?[
                                "virtualmachine"]?.arrayValue?.first)
                    ],
                    recorded: [deployJob?["jobresult"]?["virtualmachine"] ?? .object([])], command: "deployVirtualMachine")

                let templateFile = try recordedFile("TemplateService")
                let registered = try await rawCall(
                    sim,
                    [
                        "command": "registerTemplate", "name": "t", "displaytext": "t", "url": files.url("img.qcow2"), "format": "QCOW2",
                        "hypervisor": "KVM",
                        "ostypeid": try #require(await cs.listOsTypes(logger: logger).first?.id), "zoneid": zone.id!,
                    ])
                expectFaithful(
                    registered.json?["registertemplateresponse"]?["template"]?.arrayValue ?? [],
                    recorded: templateFile["registerTemplate"]?["registertemplateresponse"]?["template"]?.arrayValue ?? [],
                    command: "registerTemplate")
                let templates = try await rawCall(sim, ["command": "listTemplates", "templatefilter": "all"])
                expectFaithful(
                    templates.json?["listtemplatesresponse"]?["template"]?.arrayValue ?? [],
                    recorded: templateFile["registerTemplate"]?["registertemplateresponse"]?["template"]?.arrayValue ?? [], command: "listTemplates")
                #expect(registered.body.hasPrefix(#"{"registertemplateresponse":{"count":1,"template":[{"id":""#))

                let hostFile = try recordedFile("HostService")
                let hosts = try await rawCall(sim, ["command": "listHosts"])
                expectFaithful(
                    hosts.json?["listhostsresponse"]?["host"]?.arrayValue ?? [],
                    recorded: hostFile["listHosts"]?["listhostsresponse"]?["host"]?.arrayValue ?? [], command: "listHosts")

                let offeringFile = try recordedFile("ServiceOfferingService")
                let offerings = try await rawCall(sim, ["command": "listServiceOfferings"])
                expectFaithful(
                    offerings.json?["listserviceofferingsresponse"]?["serviceoffering"]?.arrayValue ?? [],
                    recorded: [offeringFile["createServiceOffering"]?["createserviceofferingresponse"]?["serviceoffering"] ?? .object([])],
                    command: "listServiceOfferings")

                let userFile = try recordedFile("UserService")
                let users = try await rawCall(sim, ["command": "listUsers"])
                expectFaithful(
                    users.json?["listusersresponse"]?["user"]?.arrayValue ?? [],
                    recorded: userFile["listUsers"]?["listusersresponse"]?["user"]?.arrayValue ?? [], command: "listUsers")

                let addressFile = try recordedFile("AddressService")
                let ip = try await cs.associateIpAddress(zoneID: zone.id!, logger: logger)
                let ips = try await rawCall(sim, ["command": "listPublicIpAddresses", "id": ip.id!])
                expectFaithful(
                    ips.json?["listpublicipaddressesresponse"]?["publicipaddress"]?.arrayValue ?? [],
                    recorded: [addressFile["associateIpAddress"]?["associateipaddressresponse"]?["jobresult"]?["ipaddress"] ?? .object([])],
                    command: "listPublicIpAddresses")

                let firewallFile = try recordedFile("FirewallService")
                let rule = try await cs.createFirewallRule(
                    ipAddressID: ip.id!, startPort: 22, endPort: 22, cidrList: ["192.0.2.0/24"], logger: logger)
                let rules = try await rawCall(sim, ["command": "listFirewallRules", "ipaddressid": ip.id!])
                expectFaithful(
                    rules.json?["listfirewallrulesresponse"]?["firewallrule"]?.arrayValue ?? [],
                    recorded: [firewallFile["createFirewallRule"]?["createfirewallruleresponse"]?["jobresult"]?["firewallrule"] ?? .object([])],
                    command: "listFirewallRules")
                #expect(rule.state == "Active")

                let jobs = try await rawCall(sim, ["command": "listAsyncJobs"])
                let job = try #require(jobs.json?["listasyncjobsresponse"]?["asyncjobs"]?.arrayValue?.first)
                let recordedJob = try #require(deployJob)
                for (field, value) in job.objectMembers ?? [] where field != "jobresult" {
                    if let theirs = recordedJob[field] { #expect(kind(value) == kind(theirs), "job field \(field)") }
                }
            }
        }
    }

    @Test("dates are yyyy-MM-dd'T'HH:mm:ssZ and ids are lower-case UUIDs")
    func datesAndIDs() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let answer = try await rawCall(sim, ["command": "listUsers"])
            let user = try #require(answer.json?["listusersresponse"]?["user"]?.arrayValue?.first)
            let created = try #require(user["created"]?.stringValue)
            #expect(created.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}/) != nil)
            let id = try #require(user["id"]?.stringValue)
            #expect(UUID(uuidString: id) != nil && id == id.lowercased())
        }
    }

    @Test("listApis answers the 4.18 descriptions of the commands served")
    func listApis() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let apis = try await makeClient(sim).listApis(logger: logger)
            // The modelled commands and every other list* command of the 4.18 catalog (answered with empty lists).
            let served = APICatalog.shared.apis.keys.filter { CommandTable.handler(for: $0) != nil }
            #expect(apis.count == served.count && served.count > CommandTable.handlers.count)
            let register = try #require(apis.first { $0.name == "registerTemplate" })
            #expect(register.isasync == false)
            #expect(register.params?.contains { $0.name == "checksum" } == true)
            for name in CommandTable.handlers.keys { #expect(APICatalog.shared.apis[name] != nil, "\(name) missing from the catalog") }
        }
    }

    @Test("every list* command of the 4.18 catalog answers: from state where modelled, {} where not — never the unknown-command 401")
    func everyListCommand() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let lists = APICatalog.shared.apis.values.compactMap(\.name).filter { $0.hasPrefix("list") }.sorted()
            #expect(lists.count >= 180)
            var requiredParameters = 0
            for command in lists {
                // Commands with required parameters get CloudStack's 431 for the missing ones, like the real server.
                let required = APICatalog.shared.apis[command]?.params?.contains { $0.required == true } ?? false
                let answer = try await rawCall(sim, ["command": command])
                if required {
                    requiredParameters += 1
                    #expect(answer.status == 431, "\(command): \(answer.status)")
                    continue
                }
                #expect(answer.status == 200, "\(command): \(answer.status)")
                let key = command.lowercased() + "response"
                #expect(answer.json?[key] != nil, "\(command): \(answer.body)")
                if CommandTable.handlers[command] == nil { #expect(answer.body == "{\"\(key)\":{}}", "\(command)") }
            }
            #expect(requiredParameters < lists.count / 4)
            #expect(try await rawCall(sim, ["command": "listNoSuchThings"]).status == 401)
        }
    }

    @Test("answers carry only fields of the version the simulator reports (listOsTypes: no name, oscategoryname, fordisplay in 4.18)")
    func onlyVersionFields() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let answer = try await rawCall(sim, ["command": "listOsTypes"])
            let types = try #require(answer.json?["listostypesresponse"]?["ostype"]?.arrayValue)
            #expect(!types.isEmpty)
            let allowed = try #require(APICatalog.shared.responseFields("listOsTypes"))
            #expect(allowed == ["description", "isuserdefined", "jobstatus", "jobid", "id", "oscategoryid"])
            for type in types {
                let keys = Set((type.objectMembers ?? []).map { $0.0 })
                #expect(keys.isSubset(of: allowed) && keys.contains("description") && keys.contains("id"), "\(keys)")
            }
        }
    }
}
