import CloudStack
import Core
import Foundation
import TestSupport
import Testing

@testable import CloudStackSimulator

/// The simulator's public side played for real: forwarded ports are listeners on loopback addresses, firewall
/// CIDRs are checked against the real source of each connection, and released rules close their listeners.
@Suite("Guest network")
struct GuestNetworkTests {
    /// A simulator with a Windows template next to the Linux one.
    func windowsConfig() -> SimulatorConfiguration {
        var c = config()
        var windows = BuiltinTemplateSpec()
        windows.name = "Windows Server 2022 Lab"
        windows.osType = "Windows Server 2022 (64-bit)"
        c.builtinTemplates.append(windows)
        return c
    }

    struct Lab {
        var cs: CloudStackClient
        var ip: PublicIpAddress
        var linux: VirtualMachine
        var windows: VirtualMachine
    }

    func lab(_ sim: Simulator) async throws -> Lab {
        let cs = makeClient(sim)
        let zone = try await cs.listZones(logger: logger)[0]
        let network = try await cs.listNetworks(zoneID: zone.id, logger: logger)[0]
        let templates = try await cs.listTemplates(filter: .featured, logger: logger)
        let offering = try await cs.listServiceOfferings(logger: logger)[0]
        let linuxTemplate = try #require(templates.first { !($0.ostypename ?? "").contains("Windows") })
        let windowsTemplate = try #require(templates.first { ($0.ostypename ?? "").contains("Windows") })
        let linux = try await cs.deployVirtualMachine(
            .init(zoneID: zone.id!, templateID: linuxTemplate.id!, serviceOfferingID: offering.id!), logger: logger)
        let windows = try await cs.deployVirtualMachine(
            .init(zoneID: zone.id!, templateID: windowsTemplate.id!, serviceOfferingID: offering.id!), logger: logger)
        let ip = try await cs.associateIpAddress(networkID: network.id, logger: logger)
        return Lab(cs: cs, ip: ip, linux: linux, windows: windows)
    }

    @Test("a forwarded port answers SSH or RDP from an allowed source and resets any other")
    func forwardedPortsAnswer() async throws {
        try await Simulator.withRunning(windowsConfig(), logger: logger) { sim in
            let lab = try await lab(sim)
            let address = try #require(lab.ip.ipaddress)
            #expect(IPAddress.bytes(address)?.first == 127)
            _ = try await lab.cs.createPortForwardingRule(
                ipAddressID: lab.ip.id!, publicPort: 20001, privatePort: 22, virtualMachineID: lab.linux.id!, cidrList: ["127.10.0.0/16"],
                logger: logger)
            _ = try await lab.cs.createPortForwardingRule(
                ipAddressID: lab.ip.id!, publicPort: 20002, privatePort: 3389, virtualMachineID: lab.windows.id!,
                cidrList: ["127.10.0.0/16"], logger: logger)
            #expect(await sim.listeningGuestPorts() == ["\(address):20001", "\(address):20002"])

            let banner = await ServiceProbe.probe(host: address, port: 20001, service: .ssh, source: "127.10.3.4")
            #expect(banner == .ssh(banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"))
            #expect(await ServiceProbe.probe(host: address, port: 20002, service: .rdp, source: "127.10.3.4") == .rdp(selectedProtocol: 1))
            #expect(await ServiceProbe.probe(host: address, port: 20001, service: .ssh, source: "127.11.3.4") == .refused)
            #expect(await ServiceProbe.probe(host: address, port: 20002, service: .rdp, source: "127.11.3.4") == .refused)
            // Each service answers only where the guest runs it: SSH is not spoken on the Windows seat's port.
            let wrong = await ServiceProbe.probe(host: address, port: 20002, service: .ssh, source: "127.10.3.4", timeout: .milliseconds(300))
            #expect(wrong == .silent)

            // A stopped guest answers nothing, a started one again.
            _ = try await lab.cs.stopVirtualMachine(id: lab.linux.id!, logger: logger)
            #expect(await ServiceProbe.probe(host: address, port: 20001, service: .ssh, source: "127.10.3.4") == .refused)
            _ = try await lab.cs.startVirtualMachine(id: lab.linux.id!, logger: logger)
            #expect(await ServiceProbe.probe(host: address, port: 20001, service: .ssh, source: "127.10.3.4").answered)

            // A second firewall rule opens the port to another network.
            _ = try await lab.cs.createFirewallRule(
                ipAddressID: lab.ip.id!, startPort: 20001, endPort: 20001, cidrList: ["127.11.3.4/32"], logger: logger)
            #expect(await ServiceProbe.probe(host: address, port: 20001, service: .ssh, source: "127.11.3.4").answered)
            #expect(await ServiceProbe.probe(host: address, port: 20001, service: .ssh, source: "127.11.3.5") == .refused)
        }
    }

    @Test(
        "OpenSSH's ssh(1) meets the guest's identification from an allowed source and a reset from another",
        .enabled(if: Tools.available("ssh")))
    func realSSHClient() async throws {
        let ssh = try #require(Tools.path("ssh"), "scripts/test installs openssh-client")
        try await Simulator.withRunning(windowsConfig(), logger: logger) { sim in
            let lab = try await lab(sim)
            let address = try #require(lab.ip.ipaddress)
            _ = try await lab.cs.createPortForwardingRule(
                ipAddressID: lab.ip.id!, publicPort: 20001, privatePort: 22, virtualMachineID: lab.linux.id!, cidrList: ["127.10.0.0/16"],
                logger: logger)
            func run(from source: String) async throws -> String {
                let result = try await runProgram(
                    ssh,
                    [
                        "-v", "-p", "20001", "-b", source, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
                        "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "student@\(address)", "true",
                    ])
                #expect(result.status != 0)  // the simulated guest ends the conversation after the identification
                return result.stderr
            }
            let allowed = try await run(from: "127.10.0.7")
            #expect(allowed.contains("remote software version OpenSSH_9.2p1 Debian-2+deb12u3"), "\(allowed)")
            let refused = try await run(from: "127.11.0.7")
            #expect(!refused.contains("remote software version"), "\(refused)")
            #expect(refused.contains("reset") || refused.contains("closed"), "\(refused)")
        }
    }

    @Test("deleting a rule, releasing the address or expunging the VM closes its listener and rules")
    func releaseClosesListeners() async throws {
        try await Simulator.withRunning(windowsConfig(), logger: logger) { sim in
            let lab = try await lab(sim)
            let address = try #require(lab.ip.ipaddress)
            let first = try await lab.cs.createPortForwardingRule(
                ipAddressID: lab.ip.id!, publicPort: 20001, privatePort: 22, virtualMachineID: lab.linux.id!, cidrList: ["127.0.0.0/8"],
                logger: logger)
            try await lab.cs.deletePortForwardingRule(id: first.id!, logger: logger)
            #expect(await sim.listeningGuestPorts().isEmpty)
            #expect(try await lab.cs.listFirewallRules(ipAddressID: lab.ip.id!, logger: logger).isEmpty)
            #expect(await ServiceProbe.probe(host: address, port: 20001, service: .ssh) == .refused)

            _ = try await lab.cs.createPortForwardingRule(
                ipAddressID: lab.ip.id!, publicPort: 20003, privatePort: 22, virtualMachineID: lab.linux.id!, cidrList: ["127.0.0.0/8"],
                logger: logger)
            _ = try await lab.cs.createPortForwardingRule(
                ipAddressID: lab.ip.id!, publicPort: 20004, privatePort: 3389, virtualMachineID: lab.windows.id!, cidrList: ["127.0.0.0/8"],
                logger: logger)
            _ = try await lab.cs.destroyVirtualMachine(id: lab.windows.id!, expunge: true, logger: logger)
            #expect(await sim.listeningGuestPorts() == ["\(address):20003"])

            try await lab.cs.disassociateIpAddress(id: lab.ip.id!, logger: logger)
            #expect(await sim.listeningGuestPorts().isEmpty)
            #expect(try await lab.cs.listPortForwardingRules(logger: logger).isEmpty)
            #expect(try await lab.cs.listPublicIpAddresses(logger: logger).allSatisfy { $0.id != lab.ip.id })
            #expect(await ServiceProbe.probe(host: address, port: 20003, service: .ssh) == .refused)

            // A rule on the released address fails as CloudStack's does.
            let bad = try await rawCall(
                sim, ["command": "createFirewallRule", "ipaddressid": lab.ip.id!, "protocol": "tcp", "startport": "22", "cidrlist": "0.0.0.0/0"])
            #expect(bad.status == 431)
            let sourceNAT = try #require(try await lab.cs.listPublicIpAddresses(logger: logger).first { $0.issourcenat == true })
            await #expect(throws: CloudStackError.self) { try await lab.cs.disassociateIpAddress(id: sourceNAT.id!, logger: logger) }
        }
    }

    @Test("SSH key pairs register once per name, deploy refers to them, and user data is kept with the VM")
    func keyPairsAndUserData() async throws {
        try await Simulator.withRunning(config(), logger: logger) { sim in
            let cs = makeClient(sim)
            let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBUVVA2rCdqmXOMBpFDvQZVv6pLXYAYLaXyAYLSYIQp1 student@lab"
            let pair = try await cs.registerSSHKeyPair(name: "seat-1", publicKey: key, logger: logger)
            #expect(pair.name == "seat-1" && pair.fingerprint?.split(separator: ":").count == 16)
            await #expect(throws: CloudStackError.self) { _ = try await cs.registerSSHKeyPair(name: "seat-1", publicKey: key, logger: logger) }
            await #expect(throws: CloudStackError.self) {
                _ = try await cs.registerSSHKeyPair(name: "seat-2", publicKey: "not a key", logger: logger)
            }
            var request = try await defaultDeployRequest(cs)
            request.name = "seat-1"
            request.keypair = "seat-1"
            request.userData = Data("#cloud-config\nssh_pwauth: true\n".utf8).base64EncodedString()
            let vm = try await cs.deployVirtualMachine(request, logger: logger)
            #expect(vm.keypairs == "seat-1")
            #expect(sim.userData(vmName: "seat-1") == "#cloud-config\nssh_pwauth: true\n")
            request.name = "seat-2"
            request.keypair = "no-such-pair"
            await #expect(throws: CloudStackError.self) { _ = try await cs.deployVirtualMachine(request, logger: logger) }
            request.keypair = nil
            request.userData = "not base64!"
            await #expect(throws: CloudStackError.self) { _ = try await cs.deployVirtualMachine(request, logger: logger) }
        }
    }
}
