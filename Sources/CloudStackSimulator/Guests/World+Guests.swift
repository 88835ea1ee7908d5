import CloudStack
import Core
import Foundation

extension World {
    /// Starts the guest of a VM that just ran for the first time, when its user data holds a build plan.
    mutating func startGuest(vmID: String, now: Date) {
        guard guestRuns?[vmID] == nil, let userData = vms[vmID]?.userData, let (plan, _) = GuestPlan.find(in: userData) else { return }
        guestRuns = guestRuns ?? [:]
        guestRuns![vmID] = GuestRun(plan: plan, finishAt: now.addingTimeInterval(configuration.guestProvisioningSeconds))
    }

    /// Finishes every guest whose provisioning time is over: its root volume now holds what its user data
    /// installed, its checks ran (those named in `failing` exit 1), and it powers off when its plan says so.
    /// - Returns: the reports to post to the plans' callbacks.
    mutating func advanceGuests(now: Date, hanging: Bool, failing: Set<String>) -> [GuestCallback] {
        guard !hanging, let runs = guestRuns else { return [] }
        var callbacks: [GuestCallback] = []
        for (vmID, run) in runs where !run.done && run.finishAt <= now {
            guard let record = vms[vmID], record.vm.state == "Running" else { continue }
            guestRuns![vmID]?.done = true
            if let volumeID = record.rootVolumeID, let userData = record.userData {
                provisionedVolumes = provisionedVolumes ?? [:]
                provisionedVolumes![volumeID] = userData
            }
            let results: [JSONValue] = run.plan.checks.map { check in
                let failed = failing.contains(check.name)
                return .object([
                    ("name", .string(check.name)), ("command", .string(check.command)), ("exitCode", .int(failed ? 1 : 0)),
                    ("output", .string(failed ? "\(check.name): command failed (injected)\n" : "\(check.name): ok\n")),
                ])
            }
            if let url = run.plan.callback {
                let body = JSONValue.object([("vm", .string(vmID)), ("checks", .array(results))]).serializedBytes()
                callbacks.append(GuestCallback(url: url, body: body, vmID: vmID, powerOffAfter: run.plan.powerOff))
            } else if run.plan.powerOff {
                powerOffGuest(vmID)
            }
        }
        return callbacks
    }

    /// The guest shuts itself down: a running VM stops (nothing happens to one already stopped or gone).
    mutating func powerOffGuest(_ vmID: String) {
        guard vms[vmID]?.vm.state == "Running" else { return }
        setVMState(vmID, "Stopping")
        _ = try? completeStop(vmID: vmID)
    }
}
