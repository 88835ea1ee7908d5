import CloudStack
import Core
import Foundation
import Testing

@testable import CloudStackSimulator

@Suite("The simulator speaks CloudStack's HTTP protocol")
struct ProtocolTests {
    @Test("a list answer is {\"<cmd>response\":{\"count\":N,\"<object>\":[…]}} with CloudStack's content type")
    func listEnvelope() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let answer = try await rawCall(sim, ["command": "listZones"])
            #expect(answer.status == 200)
            #expect(answer.contentType == "application/json; charset=UTF-8")
            #expect(answer.body.hasPrefix(#"{"listzonesresponse":{"count":1,"zone":[{"id":""#))
        }
    }

    @Test("an empty list is {} and a page past the end keeps only count")
    func emptyList() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let empty = try await rawCall(sim, ["command": "listTags"])
            #expect(empty.body == #"{"listtagsresponse":{}}"#)
            let pastEnd = try await rawCall(sim, ["command": "listZones", "page": "2", "pagesize": "1"])
            #expect(pastEnd.body == #"{"listzonesresponse":{"count":1}}"#)
        }
    }

    @Test("a wrong secret gets HTTP 401 with CloudStack's exact body")
    func badSignature() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let answer = try await rawCall(sim, ["command": "listZones"], secret: "not-the-secret")
            #expect(answer.status == 401)
            #expect(
                answer.body
                    == #"{"listzonesresponse":{"uuidList":[],"errorcode":401,"errortext":"unable to verify user credentials and/or request signature"}}"#
            )
        }
    }

    @Test("missing key, unknown key, unknown command and expired requests are all 401")
    func otherAuthFailures() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            #expect(try await rawCall(sim, ["command": "listZones"], sign: false).status == 401)
            #expect(try await rawCall(sim, ["command": "listZones"], apiKey: "nobody").status == 401)
            let unknown = try await rawCall(sim, ["command": "frobnicate"])
            #expect(unknown.status == 401 && unknown.body.hasPrefix(#"{"errorresponse":"#))
            let expired = try await rawCall(sim, ["command": "listZones", "signatureVersion": "3", "expires": "2001-01-01T00:00:00+0000"])
            #expect(expired.status == 401)
            let noExpiry = try await rawCall(sim, ["command": "listZones", "signatureVersion": "3"])
            #expect(noExpiry.status == 401)
            let future = CloudStackDateFormat.string(from: Date().addingTimeInterval(300))
            #expect(try await rawCall(sim, ["command": "listZones", "signatureVersion": "3", "expires": future]).status == 200)
        }
    }

    @Test("missing and invalid parameters are 431 with CloudStack's wording, status = errorcode, X-Description")
    func parameterErrors() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let missing = try await rawCall(sim, ["command": "listTemplates"])
            #expect(missing.status == 431)
            #expect(
                missing.body
                    == #"{"listtemplatesresponse":{"uuidList":[],"errorcode":431,"cserrorcode":9999,"errortext":"Unable to execute API command listtemplates due to missing parameter templatefilter"}}"#
            )
            #expect(missing.description == "Unable to execute API command listtemplates due to missing parameter templatefilter")
            let invalid = try await rawCall(sim, ["command": "listZones", "page": "two"])
            #expect(invalid.status == 431)
            #expect(
                invalid.json?["listzonesresponse"]?["errortext"]?.stringValue
                    == "Unable to execute API command listzones due to invalid value two for parameter page")
            let badID = try await rawCall(sim, ["command": "listZones", "id": "not-a-uuid"])
            #expect(badID.status == 431)
            #expect(badID.json?["listzonesresponse"]?["errortext"]?.stringValue?.contains("Invalid parameter id value=not-a-uuid") == true)
            let tooBig = try await rawCall(sim, ["command": "listZones", "pagesize": "501"])
            #expect(tooBig.status == 431)
        }
    }

    @Test("POST with a form body is signed and answered like GET")
    func post() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let answer = try await rawCall(sim, ["command": "listOsTypes", "keyword": "windows server"], post: true)
            #expect(answer.status == 200)
            #expect(answer.json?["listostypesresponse"]?["count"]?.intValue == 1)
        }
    }

    @Test("without response=json the answer is XML, as CloudStack's default")
    func xml() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let answer = try await rawCall(sim, ["command": "listRegions", "noresponse": "1"])
            #expect(answer.contentType?.hasPrefix("text/xml") == true)
            #expect(
                answer.body.hasPrefix(
                    #"<?xml version="1.0" encoding="UTF-8"?><listregionsresponse cloud-stack-version="4.18.2.0"><count>1</count><region><id>1</id>"#))
        }
    }

    @Test("async commands answer {id, jobid}; the job is pending, then succeeds with jobresult")
    func asyncJobLifecycle() async throws {
        let clock = ManualClock()
        try await Simulator.withRunning(config(jobMilliseconds: 5_000), logger: logger, clock: { clock.now }) { sim in
            let cs = makeClient(sim)
            let zone = try await cs.listZones(logger: logger)[0]
            let template = try await cs.listTemplates(filter: .featured, logger: logger)[0]
            let offering = try await cs.listServiceOfferings(logger: logger)[0]
            let submit = try await rawCall(
                sim, ["command": "deployVirtualMachine", "zoneid": zone.id!, "templateid": template.id!, "serviceofferingid": offering.id!])
            let inner = try #require(submit.json?["deployvirtualmachineresponse"])
            let jobID = try #require(inner["jobid"]?.stringValue)
            #expect(submit.body.hasPrefix(#"{"deployvirtualmachineresponse":{"id":""#) && submit.body.contains(#"","jobid":""#))
            let pending = try await rawCall(sim, ["command": "queryAsyncJobResult", "jobid": jobID])
            let p = try #require(pending.json?["queryasyncjobresultresponse"])
            #expect(p["jobstatus"]?.intValue == 0 && p["jobresult"] == nil && p["jobresulttype"] == nil)
            #expect(p["cmd"]?.stringValue == "org.apache.cloudstack.api.command.admin.vm.DeployVMCmdByAdmin")
            clock.advance(by: 4)
            let stillPending = try await rawCall(sim, ["command": "queryAsyncJobResult", "jobid": jobID])
            #expect(stillPending.json?["queryasyncjobresultresponse"]?["jobstatus"]?.intValue == 0)
            clock.advance(by: 1)
            let done = try await cs.waitForJob(jobID, command: "deployVirtualMachine", logger: logger)
            #expect(done.jobstatus == 1 && done.jobresultcode == 0 && done.jobresulttype == "object")
            #expect(done.jobresult?["virtualmachine"]?["state"]?.stringValue == "Running")
            #expect(done.jobinstanceid == inner["id"]?.stringValue)
            let unknown = try await rawCall(sim, ["command": "queryAsyncJobResult", "jobid": UUID().uuidString.lowercased()])
            #expect(unknown.status == 431)
        }
    }

    @Test("a user account can't call admin commands, and its keys sign its own calls")
    func roles() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let cs = makeClient(sim)
            let account = try await cs.createAccount(
                username: "student1", password: "pw", email: "s@example.org", firstName: "S", lastName: "One", logger: logger)
            let userID = try #require(account.user?.first?.id)
            let keys = try await cs.registerUserKeys(userID: userID, logger: logger)
            #expect(keys.apikey?.count == 86 && keys.secretkey?.count == 86)
            #expect(try await cs.getUserKeys(userID: userID, logger: logger) == keys)
            let hosts = try await rawCall(sim, ["command": "listHosts"], secret: keys.secretkey, apiKey: keys.apikey)
            #expect(hosts.status == 401)
            #expect(hosts.body.contains("The given command 'listHosts' either does not exist, is not available for user."))
            let zones = try await rawCall(sim, ["command": "listZones"], secret: keys.secretkey, apiKey: keys.apikey)
            #expect(zones.status == 200)
            let again = try await cs.registerUserKeys(userID: userID, logger: logger)
            #expect(try await rawCall(sim, ["command": "listZones"], secret: keys.secretkey, apiKey: keys.apikey).status == 401)
            #expect(try await rawCall(sim, ["command": "listZones"], secret: again.secretkey, apiKey: again.apikey).status == 200)
            let users = try await cs.listUsers(username: "student1", logger: logger)
            #expect(users.first?.accountid == account.id && users.first?.roletype == "User")
        }
    }

    @Test("one process runs several regions on separate ports, each with its own keys")
    func severalRegions() async throws {
        try await Simulator.withRunning(config("A"), logger: logger) { a in
            try await Simulator.withRunning(config("B"), logger: logger) { b in
                #expect(a.port != b.port)
                #expect(try await makeClient(a).listRegions(logger: logger).first?.name == "A")
                #expect(try await makeClient(b).listRegions(logger: logger).first?.name == "B")
                let crossed = try await rawCall(b, ["command": "listZones"], secret: a.adminKeys.secretkey, apiKey: a.adminKeys.apikey)
                #expect(crossed.status == 401)
            }
        }
    }
}
