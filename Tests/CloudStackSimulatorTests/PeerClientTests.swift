import CloudStack
import Core
import Foundation
import TestSupport
import Testing

@testable import CloudStackSimulator

/// The path of a peer client given by the test script, or `nil` (then the test is a no-op unless peers are required).
func peer(_ variable: String) -> String? {
    let env = ProcessInfo.processInfo.environment
    if let path = env[variable], FileManager.default.isExecutableFile(atPath: path) { return path }
    if (env["MCLOUDS_REQUIRE_PEERS"] ?? "").split(separator: ",").contains(Substring(variable)) {
        Issue.record("\(variable) is not set to an executable; scripts/test installs the peer clients")
    }
    return nil
}

func json(_ text: String) -> JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }

@Suite("Real CloudStack clients written by others work against the simulator")
struct PeerClientTests {
    @Test("cs (PyPI): listZones, a wrong secret, registerTemplate to ready, a bad checksum, deploy and destroy")
    func csClient() async throws {
        guard let cs = peer("MCLOUDS_CS") else { return }
        let image = sampleImage(size: 200_000, seed: 7)
        try await FileServer.withRunning(["golden.qcow2": image]) { files in
            var c = config(jobMilliseconds: 500)
            c.apiKey = "APIKEY"
            c.secretKey = "SECRETKEY"
            try await Simulator.withRunning(c, logger: logger) { sim in
                let env = [
                    "CLOUDSTACK_ENDPOINT": sim.endpoint, "CLOUDSTACK_KEY": "APIKEY", "CLOUDSTACK_SECRET": "SECRETKEY",
                    "CLOUDSTACK_POLL_INTERVAL": "1", "CLOUDSTACK_TIMEOUT": "60",
                ]
                let zones = try await runProgram(cs, ["listZones"], environment: env)
                #expect(zones.status == 0, "\(zones.stderr)")
                let zone = try #require(json(zones.stdout)?["zone"]?.arrayValue?.first)
                let zoneID = try #require(zone["id"]?.stringValue)

                let post = try await runProgram(cs, ["--post", "listZones", "available=true"], environment: env)
                #expect(post.status == 0 && json(post.stdout)?["count"]?.intValue == 1)

                var wrongEnv = env
                wrongEnv["CLOUDSTACK_SECRET"] = "WRONG"
                let wrong = try await runProgram(cs, ["listZones"], environment: wrongEnv)
                #expect(wrong.status == 1)
                #expect(wrong.stdout.contains("unable to verify user credentials and/or request signature"))
                #expect(wrong.stdout.contains("401"))

                let os = try await runProgram(cs, ["listOsTypes", "description=Ubuntu 22.04 LTS"], environment: env)
                let osID = try #require(json(os.stdout)?["ostype"]?.arrayValue?.first?["id"]?.stringValue)
                let register = try await runProgram(
                    cs,
                    [
                        "registerTemplate", "name=golden image", "displaytext=Golden image v1", "url=\(files.url("golden.qcow2"))", "format=QCOW2",
                        "hypervisor=KVM", "ostypeid=\(osID)", "zoneid=\(zoneID)", "checksum={SHA-256}\(sha256Hex(image))",
                    ], environment: env)
                #expect(register.status == 0, "\(register.stdout) \(register.stderr)")
                let templateID = try #require(json(register.stdout)?["template"]?.arrayValue?.first?["id"]?.stringValue)
                var ready = false
                for _ in 0..<100 {
                    let list = try await runProgram(cs, ["listTemplates", "templatefilter=all", "id=\(templateID)"], environment: env)
                    if json(list.stdout)?["template"]?.arrayValue?.first?["isready"]?.boolValue == true {
                        ready = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(ready)

                let bad = try await runProgram(
                    cs,
                    [
                        "registerTemplate", "name=bad", "displaytext=bad", "url=\(files.url("golden.qcow2"))", "format=QCOW2", "hypervisor=KVM",
                        "ostypeid=\(osID)", "zoneid=\(zoneID)", "checksum={SHA-256}\(String(repeating: "f", count: 64))",
                    ], environment: env)
                let badID = try #require(json(bad.stdout)?["template"]?.arrayValue?.first?["id"]?.stringValue)
                var badStatus = ""
                for _ in 0..<100 {
                    let list = try await runProgram(cs, ["listTemplates", "templatefilter=all", "id=\(badID)"], environment: env)
                    badStatus = json(list.stdout)?["template"]?.arrayValue?.first?["status"]?.stringValue ?? ""
                    if badStatus.contains("didn't match") { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(badStatus.contains("didn't match the given value"))

                let offerings = try await runProgram(cs, ["listServiceOfferings", "name=Small Instance"], environment: env)
                let offeringID = try #require(json(offerings.stdout)?["serviceoffering"]?.arrayValue?.first?["id"]?.stringValue)
                let deploy = try await runProgram(
                    cs,
                    ["deployVirtualMachine", "zoneid=\(zoneID)", "templateid=\(templateID)", "serviceofferingid=\(offeringID)", "name=student-01"],
                    environment: env)
                #expect(deploy.status == 0, "\(deploy.stdout) \(deploy.stderr)")
                let vm = try #require(json(deploy.stdout)?["virtualmachine"])
                #expect(vm["state"]?.stringValue == "Running" && vm["name"]?.stringValue == "student-01")
                let vmID = try #require(vm["id"]?.stringValue)
                let destroy = try await runProgram(cs, ["destroyVirtualMachine", "id=\(vmID)", "expunge=true"], environment: env)
                #expect(destroy.status == 0, "\(destroy.stderr)")
                let left = try await runProgram(cs, ["listVirtualMachines", "listall=true"], environment: env)
                #expect(left.status == 0 && left.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            }
        }
    }

    @Test("cs (PyPI): an address, a forwarded port that answers, its conflict, a key pair, user data, release and its error")
    func csNetworking() async throws {
        guard let cs = peer("MCLOUDS_CS") else { return }
        var c = config(jobMilliseconds: 200)
        c.apiKey = "APIKEY"
        c.secretKey = "SECRETKEY"
        try await Simulator.withRunning(c, logger: logger) { sim in
            let env = [
                "CLOUDSTACK_ENDPOINT": sim.endpoint, "CLOUDSTACK_KEY": "APIKEY", "CLOUDSTACK_SECRET": "SECRETKEY", "CLOUDSTACK_POLL_INTERVAL": "1",
                "CLOUDSTACK_TIMEOUT": "60",
            ]
            func call(_ arguments: [String]) async throws -> (status: Int32, json: JSONValue?, text: String) {
                let run = try await runProgram(cs, arguments, environment: env)
                return (run.status, json(run.stdout), run.stdout + run.stderr)
            }
            let networks = try await call(["listNetworks"])
            let networkID = try #require(networks.json?["network"]?.arrayValue?.first?["id"]?.stringValue, "\(networks.text)")
            let associate = try await call(["associateIpAddress", "networkid=\(networkID)"])
            #expect(associate.status == 0, "\(associate.text)")
            let ip = try #require(associate.json?["ipaddress"])
            let ipID = try #require(ip["id"]?.stringValue)
            let address = try #require(ip["ipaddress"]?.stringValue)
            #expect(ip["state"]?.stringValue == "Allocated" && ip["associatednetworkid"]?.stringValue == networkID)

            let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBUVVA2rCdqmXOMBpFDvQZVv6pLXYAYLaXyAYLSYIQp1 seat"
            let pair = try await call(["--post", "registerSSHKeyPair", "name=seat-01", "publickey=\(key)"])
            #expect(pair.status == 0 && pair.json?["keypair"]?["fingerprint"]?.stringValue?.count == 47, "\(pair.text)")
            let zoneID = try #require(try await call(["listZones"]).json?["zone"]?.arrayValue?.first?["id"]?.stringValue)
            let templateID = try #require(
                try await call(["listTemplates", "templatefilter=featured"]).json?["template"]?.arrayValue?.first?["id"]?.stringValue)
            let offeringID = try #require(
                try await call(["listServiceOfferings"]).json?["serviceoffering"]?.arrayValue?.first?["id"]?.stringValue)
            let userData = Data("#cloud-config\nssh_pwauth: true\n".utf8).base64EncodedString()
            let deploy = try await call([
                "--post", "deployVirtualMachine", "zoneid=\(zoneID)", "templateid=\(templateID)", "serviceofferingid=\(offeringID)",
                "name=seat-01", "keypair=seat-01", "userdata=\(userData)",
            ])
            #expect(deploy.status == 0 && deploy.json?["virtualmachine"]?["keypairs"]?.stringValue == "seat-01", "\(deploy.text)")
            #expect(sim.userData(vmName: "seat-01") == "#cloud-config\nssh_pwauth: true\n")
            let vmID = try #require(deploy.json?["virtualmachine"]?["id"]?.stringValue)

            let rule = try await call([
                "createPortForwardingRule", "ipaddressid=\(ipID)", "publicport=20001", "privateport=22", "protocol=tcp",
                "virtualmachineid=\(vmID)", "cidrlist=127.10.0.0/16",
            ])
            #expect(rule.status == 0 && rule.json?["portforwardingrule"]?["state"]?.stringValue == "Active", "\(rule.text)")
            #expect(await ServiceProbe.probe(host: address, port: 20001, service: .ssh, source: "127.10.0.9").answered)
            #expect(await ServiceProbe.probe(host: address, port: 20001, service: .ssh, source: "127.9.0.9") == .refused)
            let conflict = try await call([
                "createPortForwardingRule", "ipaddressid=\(ipID)", "publicport=20001", "privateport=23", "protocol=tcp", "virtualmachineid=\(vmID)",
            ])
            #expect(conflict.status != 0 && conflict.text.contains("537"), "\(conflict.text)")

            let release = try await call(["disassociateIpAddress", "id=\(ipID)"])
            #expect(release.status == 0 && release.json?["success"]?.boolValue == true, "\(release.text)")
            #expect(await sim.listeningGuestPorts().isEmpty)
            let late = try await call(["createFirewallRule", "ipaddressid=\(ipID)", "protocol=tcp", "startport=22", "cidrlist=0.0.0.0/0"])
            #expect(late.status != 0 && late.text.contains("431") && late.text.contains("not associated"), "\(late.text)")
            let rules = try await call(["listPortForwardingRules"])
            #expect(rules.status == 0 && rules.json?["portforwardingrule"] == nil)
        }
    }

    @Test("cloudmonkey 5.3.3.1 (Python 2.7): list zones and deploy a VM")
    func cloudmonkey() async throws {
        guard let cloudmonkey = peer("MCLOUDS_CLOUDMONKEY") else { return }
        var c = config(jobMilliseconds: 300)
        c.apiKey = "APIKEY"
        c.secretKey = "SECRETKEY"
        try await Simulator.withRunning(c, logger: logger) { sim in
            let home = FileManager.default.temporaryDirectory.appendingPathComponent("cm-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: home) }
            let configFile = home.appendingPathComponent("config")
            let text = """
                [core]
                profile = sim
                asyncblock = true
                paramcompletion = false
                cache_file = \(home.path)/cache
                history_file = \(home.path)/history
                log_file = \(home.path)/log

                [ui]
                color = false
                display = json
                prompt = >

                [sim]
                url = \(sim.endpoint)
                apikey = APIKEY
                secretkey = SECRETKEY
                expires = 600
                signatureversion = 3
                timeout = 3600
                verifysslcert = false
                username = admin
                password = password
                domain = /

                """
            try Data(text.utf8).write(to: configFile)
            let env = ["HOME": home.path]
            let zones = try await runProgram(cloudmonkey, ["-c", configFile.path, "-d", "json", "list", "zones"], environment: env)
            #expect(zones.status == 0, "\(zones.stdout) \(zones.stderr)")
            let zoneID = try #require(json(zones.stdout)?["zone"]?.arrayValue?.first?["id"]?.stringValue, "\(zones.stdout)")
            let cs = makeClient(sim)
            let template = try await cs.listTemplates(filter: .featured, logger: logger)[0]
            let offering = try await cs.listServiceOfferings(logger: logger)[0]
            let deploy = try await runProgram(
                cloudmonkey,
                [
                    "-c", configFile.path, "-d", "json", "deploy", "virtualmachine", "zoneid=\(zoneID)", "templateid=\(template.id!)",
                    "serviceofferingid=\(offering.id!)",
                ],
                environment: env)
            #expect(deploy.status == 0, "\(deploy.stdout) \(deploy.stderr)")
            #expect(deploy.stdout.contains("Running"), "\(deploy.stdout)")
            #expect(try await cs.listVirtualMachines(state: "Running", logger: logger).count == 1)
        }
    }
}
