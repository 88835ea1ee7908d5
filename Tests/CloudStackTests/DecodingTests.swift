import CloudStack
import Core
import Foundation
import Testing

func recorded(_ file: String) throws -> [String: JSONValue] {
    let url = try #require(Bundle.module.url(forResource: "Resources/\(file)", withExtension: "json"))
    guard case .object(let members) = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: url)) else { return [:] }
    return Dictionary(members, uniquingKeysWith: { a, _ in a })
}

/// The inner object of a recorded `{"<cmd>response": …}` body.
func innerOf(_ body: JSONValue?) throws -> Data {
    let members = try #require(body?.objectMembers)
    return Data(try #require(members.first?.1).serialized().utf8)
}

@Suite("Models decode real CloudStack responses")
struct DecodingTests {
    @Test("listVirtualMachines and a deploy job result decode into VirtualMachine")
    func virtualMachines() throws {
        let file = try recorded("VirtualMachineService")
        let page = try JSONDecoder().decode(ListPage<VirtualMachine>.self, from: innerOf(file["listVirtualMachines"]))
        #expect(page.count == 1)
        #expect(page.items.first?.state == "Running")
        #expect(page.items.first?.nic?.first?.ipaddress == "10.1.1.62")
        #expect(page.items.first?.created?.description == "2021-10-04T09:24:38+0000")
        let job = try JSONDecoder().decode(AsyncJob.self, from: innerOf(file["deployVirtualMachine"]))
        #expect(job.jobstatus == 1)
        #expect(job.jobresult?["virtualmachine"]?["name"]?.stringValue == "testDummyVM")
    }

    @Test("registerTemplate's list envelope decodes with status and download details")
    func templates() throws {
        let file = try recorded("TemplateService")
        let page = try JSONDecoder().decode(ListPage<Template>.self, from: innerOf(file["registerTemplate"]))
        let t = try #require(page.items.first)
        #expect(t.status == "Download Complete")
        #expect(t.isready == true)
        #expect(t.crossZones == false)
        #expect(t.downloaddetails?.first?.downloadPercent == "100")
        #expect(t.size == 5_242_880)
    }

    @Test("listHosts decodes with string percentages and byte counts")
    func hosts() throws {
        let file = try recorded("HostService")
        let page = try JSONDecoder().decode(ListPage<ComputeHost>.self, from: innerOf(file["listHosts"]))
        let h = try #require(page.items.first)
        #expect(h.cpuallocated == "0%")
        #expect(h.memorytotal == 8_589_934_592)
        #expect(h.cpuwithoverprovisioning == "32000")
    }

    @Test("the empty list {} decodes as no items")
    func emptyList() throws {
        let page = try JSONDecoder().decode(ListPage<Zone>.self, from: Data("{}".utf8))
        #expect(page.count == 0 && page.items.isEmpty)
    }
}

@Suite("Ordered JSON")
struct OrderedJSONTests {
    struct Sample: Encodable {
        var zebra = "z"
        var count = 2
        var missing: String? = nil
        var nested = ["b": 1]
        var list = [true, false]
    }

    @Test("encodes keys in declaration order and omits nil optionals")
    func order() throws {
        let value = try OrderedJSONEncoder().encode(Sample())
        #expect(value.serialized() == #"{"zebra":"z","count":2,"nested":{"b":1},"list":[true,false]}"#)
    }

    @Test("escapes strings as JSON requires and leaves / alone")
    func escaping() {
        #expect(JSONValue.string("a\"b\\c\n/\u{01}é").serialized() == #""a\"b\\c\n/\u0001é""#)
    }

    @Test("prepending puts a member first")
    func prepend() {
        let v = JSONValue.object([("zone", .array([]))]).prepending("count", .int(0))
        #expect(v.serialized() == #"{"count":0,"zone":[]}"#)
    }
}
