import Foundation

/// What a builder VM's user data asks its guest to do: the plan an image builder embeds in it (a
/// `# mclouds-build-plan: BASE64-JSON` line). The simulated guest "runs" the provisioning by waiting
/// ``SimulatorConfiguration/guestProvisioningSeconds``, then runs the checks, posts their results to the
/// callback and, when asked, powers itself off.
struct GuestPlan: Codable, Sendable, Hashable {
    struct Check: Codable, Sendable, Hashable {
        var name: String
        var command: String
    }

    var callback: String?
    var checks: [Check]
    var powerOff: Bool

    /// The marker that starts the plan's line in user data.
    static let marker = "mclouds-build-plan:"

    /// The plan in `userData`, and its encoded text (lines holding it are not part of what the guest installs).
    static func find(in userData: String) -> (plan: GuestPlan, encoded: String)? {
        for line in userData.split(whereSeparator: \.isNewline) {
            guard let range = line.range(of: marker) else { continue }
            let encoded = line[range.upperBound...].trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "'\"")))
            guard let data = Data(base64Encoded: encoded), let plan = try? JSONDecoder().decode(GuestPlan.self, from: data) else { continue }
            return (plan, encoded)
        }
        return nil
    }
}

/// A guest running its user data, from the VM's first start until it reports.
struct GuestRun: Codable, Sendable {
    var plan: GuestPlan
    var finishAt: Date
    var done = false
}

/// A report the guest posts to its plan's callback (`{"checks": [{name, command, exitCode, output}]}`).
struct GuestCallback: Sendable {
    var url: String
    var body: [UInt8]
    var vmID: String
    /// The guest powers itself off once the report is posted (or given up on), as cloud-init's
    /// `power_state` runs only after the `runcmd` that posts it.
    var powerOffAfter: Bool
}

/// A template to be written from a provisioned volume, outside the world's lock.
struct PendingImage: Codable, Sendable {
    var base: String?
    var userData: String
}
