import AsyncHTTPClient
import CloudStack
import Core
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import CloudStackSimulator

extension Insecure.MD5Digest {
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}

@Suite("Secondary storage really downloads and verifies templates")
struct TemplateTests {
    static let image = sampleImage(size: 300_000)

    func register(_ cs: CloudStackClient, url: String, checksum: String?, name: String = "ubuntu-22.04") async throws -> Template {
        let zone = try await cs.listZones(logger: logger)[0]
        let os = try #require(try await cs.listOsTypes(description: "Ubuntu 22.04 LTS", logger: logger).first)
        var request = RegisterTemplateRequest(
            name: name, displayText: "\(name) v1", url: url, format: "QCOW2", hypervisor: "KVM", osTypeID: os.id!, zoneIDs: [zone.id!])
        request.checksum = checksum
        request.isExtractable = true
        let rows = try await cs.registerTemplate(request, logger: logger)
        #expect(rows.count == 1)
        #expect(rows[0].isready == false)
        return rows[0]
    }

    @Test("a {SHA-256} checksum that matches ends in Download Complete and isready; the listed checksum has no prefix")
    func sha256Ready() async throws {
        try await FileServer.withRunning(["img.qcow2": Self.image]) { files in
            try await Simulator.withRunning(config(), logger: logger) { sim in
                let cs = makeClient(sim)
                let digest = sha256Hex(Self.image)
                let t = try await register(cs, url: files.url("img.qcow2"), checksum: "{SHA-256}\(digest)")
                let ready = try await waitForTemplate(cs, id: t.id!)
                #expect(ready.isready == true)
                #expect(ready.status == "Download Complete")
                #expect(ready.checksum == digest)
                #expect(ready.physicalsize == Int64(Self.image.count))
                #expect(ready.downloaddetails?.first?.downloadState == "DOWNLOADED")
            }
        }
    }

    @Test("MD5 (bare), {SHA-1} and {SHA-512} checksums are verified too")
    func otherAlgorithms() async throws {
        try await FileServer.withRunning(["img.qcow2": Self.image]) { files in
            try await Simulator.withRunning(config(), logger: logger) { sim in
                let cs = makeClient(sim)
                let md5 = Insecure.MD5.hash(data: Self.image).hex
                let sha1 = Insecure.SHA1.hash(data: Self.image).map { String(format: "%02x", $0) }.joined()
                let sha512 = SHA512.hash(data: Self.image).map { String(format: "%02x", $0) }.joined()
                for (i, checksum) in [md5, "{SHA-1}\(sha1)", "{SHA-512}\(sha512)"].enumerated() {
                    let t = try await register(cs, url: files.url("img.qcow2"), checksum: checksum, name: "t\(i)")
                    #expect(try await waitForTemplate(cs, id: t.id!).isready == true, "\(checksum)")
                }
                let bad = try await register(cs, url: files.url("img.qcow2"), checksum: String(repeating: "0", count: 32), name: "bad-md5")
                #expect(try await waitForTemplate(cs, id: bad.id!).isready == false)
            }
        }
    }

    @Test("a wrong checksum leaves the template not ready with CloudStack's mismatch text")
    func wrongChecksum() async throws {
        try await FileServer.withRunning(["img.qcow2": Self.image]) { files in
            try await Simulator.withRunning(config(), logger: logger) { sim in
                let cs = makeClient(sim)
                let wrong = String(repeating: "0", count: 64)
                let t = try await register(cs, url: files.url("img.qcow2"), checksum: "{SHA-256}\(wrong)")
                let failed = try await waitForTemplate(cs, id: t.id!)
                #expect(failed.isready == false)
                #expect(failed.status == "checksum \"\(sha256Hex(Self.image))\" didn't match the given value, \"\(wrong)\"")
                #expect(failed.downloaddetails?.first?.downloadState == "DOWNLOAD_ERROR")
                let zone = try await cs.listZones(logger: logger)[0]
                let offering = try await cs.listServiceOfferings(logger: logger)[0]
                await #expect(throws: CloudStackError.self) {
                    try await cs.deployVirtualMachine(.init(zoneID: zone.id!, templateID: t.id!, serviceOfferingID: offering.id!), logger: logger)
                }
            }
        }
    }

    @Test("a missing URL, a failing download and bad parameters are reported")
    func failures() async throws {
        try await FileServer.withRunning(["img.qcow2": Self.image]) { files in
            try await Simulator.withRunning(config(), logger: logger) { sim in
                let cs = makeClient(sim)
                let missing = try await register(cs, url: files.url("nope.qcow2"), checksum: nil)
                #expect(
                    try await waitForTemplate(cs, id: missing.id!).status == "Failed to download template: HTTP Server returned 404 (expected 200 OK)"
                )
                var faults = FaultConfiguration()
                faults.failDownloads = true
                sim.setFaults(faults)
                let cut = try await register(cs, url: files.url("img.qcow2"), checksum: nil, name: "cut")
                let cutResult = try await waitForTemplate(cs, id: cut.id!)
                #expect(cutResult.isready == false && cutResult.status?.hasPrefix("Failed to download template") == true)
                sim.setFaults(FaultConfiguration())
                let zone = try await cs.listZones(logger: logger)[0]
                let os = try await cs.listOsTypes(logger: logger)[0]
                let base: [String: String] = [
                    "command": "registerTemplate", "name": "x", "displaytext": "x", "url": files.url("img.qcow2"), "format": "QCOW2",
                    "hypervisor": "KVM",
                    "ostypeid": os.id!,
                ]
                let noZone = try await rawCall(sim, base)
                #expect(noZone.status == 431 && noZone.description == "Either zoneid or zoneids is required. Both cannot be null.")
                var both = base
                both["zoneid"] = zone.id!
                both["zoneids"] = zone.id!
                #expect(try await rawCall(sim, both).description == "Both zoneid and zoneids cannot be specified at the same time")
                var ftp = base
                ftp["zoneid"] = zone.id!
                ftp["url"] = "ftp://127.0.0.1/x.qcow2"
                #expect(try await rawCall(sim, ftp).status == 431)
                var badFormat = base
                badFormat["zoneid"] = "-1"
                badFormat["format"] = "EXE"
                #expect(try await rawCall(sim, badFormat).status == 431)
                var badAlgorithm = base
                badAlgorithm["zoneid"] = "-1"
                badAlgorithm["checksum"] = "{SHA256}abc"
                #expect(try await rawCall(sim, badAlgorithm).status == 431)
            }
        }
    }

    @Test("a throttled download shows N% Downloaded before Download Complete")
    func progress() async throws {
        try await FileServer.withRunning(["img.qcow2": Self.image]) { files in
            var c = config()
            c.faults.downloadBytesPerSecond = 150_000
            try await Simulator.withRunning(c, logger: logger) { sim in
                let cs = makeClient(sim)
                let t = try await register(cs, url: files.url("img.qcow2"), checksum: nil)
                var statuses = Set<String>()
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline {
                    let row = try await cs.listTemplates(filter: .all, id: t.id!, logger: logger)[0]
                    statuses.insert(row.status ?? "")
                    if row.isready == true { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(statuses.contains("Download Complete"))
                #expect(statuses.contains { $0.hasSuffix("% Downloaded") })
            }
        }
    }

    @Test("extractTemplate gives a URL that serves the same bytes; createTemplate works from a stopped VM's root volume")
    func extractAndCreate() async throws {
        try await FileServer.withRunning(["img.qcow2": Self.image]) { files in
            try await Simulator.withRunning(config(), logger: logger) { sim in
                let cs = makeClient(sim)
                let t = try await register(cs, url: files.url("img.qcow2"), checksum: nil)
                _ = try await waitForTemplate(cs, id: t.id!)
                let extracted = try await cs.extractTemplate(id: t.id!, logger: logger)
                #expect(extracted.state == "DOWNLOAD_URL_CREATED")
                let url = try #require(extracted.url)
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
                #expect(response.status.code == 200)
                let body = try await response.body.collect(upTo: 1 << 24)
                #expect(sha256Hex(Array(buffer: body)) == sha256Hex(Self.image))

                let zone = try await cs.listZones(logger: logger)[0]
                let offering = try await cs.listServiceOfferings(logger: logger)[0]
                let vm = try await cs.deployVirtualMachine(
                    .init(zoneID: zone.id!, templateID: t.id!, serviceOfferingID: offering.id!), logger: logger)
                let root = try #require(try await cs.listVolumes(virtualMachineID: vm.id!, type: "ROOT", logger: logger).first)
                let os = try await cs.listOsTypes(logger: logger)[0]
                await #expect(throws: CloudStackError.self) {
                    try await cs.createTemplate(name: "golden", displayText: "golden", osTypeID: os.id!, volumeID: root.id!, logger: logger)
                }
                _ = try await cs.stopVirtualMachine(id: vm.id!, logger: logger)
                let golden = try await cs.createTemplate(name: "golden", displayText: "golden", osTypeID: os.id!, volumeID: root.id!, logger: logger)
                #expect(golden.isready == true && golden.sourcetemplateid == t.id)

                // The template a VM uses can't be deleted until the VM is gone.
                do {
                    try await cs.deleteTemplate(id: t.id!, logger: logger)
                    Issue.record("deleting a template in use should fail")
                } catch let error as CloudStackError {
                    #expect(error.errorCode == 536)
                }
                _ = try await cs.destroyVirtualMachine(id: vm.id!, expunge: true, logger: logger)
                try await cs.deleteTemplate(id: t.id!, logger: logger)
                #expect(try await cs.listTemplates(filter: .all, id: nil, logger: logger).allSatisfy { $0.id != t.id })
            }
        }
    }

    @Test("updateTemplate and updateTemplatePermissions change names and the featured flag")
    func update() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let cs = makeClient(sim)
            let t = try await cs.listTemplates(filter: .featured, logger: logger)[0]
            let updated = try await cs.updateTemplate(id: t.id!, displayText: "renamed", isFeatured: false, logger: logger)
            #expect(updated.displaytext == "renamed" && updated.isfeatured == false)
            #expect(try await cs.listTemplates(filter: .featured, logger: logger).isEmpty)
        }
    }
}
