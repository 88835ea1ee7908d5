import AsyncHTTPClient
import Core
import Foundation
import Logging
import NIOCore
import NIOHTTP1

extension Simulator {
    /// Lets guests finish provisioning as the simulator's clock passes their time, and posts their reports.
    func runGuests() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(200))
            let faults = currentFaults
            let now = clock()
            let reports = store.withLock { $0.advanceGuests(now: now, hanging: faults.guestHangs, failing: Set(faults.failingChecks)) }
            if !reports.isEmpty { markDirty() }
            for report in reports {
                await post(report)
                if report.powerOffAfter {
                    store.withLock { $0.powerOffGuest(report.vmID) }
                    markDirty()
                }
            }
        }
    }

    /// Posts a guest's report as `curl --retry 5` in the guest would: a few tries, then the guest gives up.
    private func post(_ report: GuestCallback) async {
        for attempt in 1...5 {
            var request = HTTPClientRequest(url: report.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(report.body)
            do {
                let response = try await HTTPClients.shared.execute(request, timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 1 << 20)
                if response.status.code < 500 {
                    logger.info(
                        "Guest reported its build checks",
                        metadata: ["vm.id": "\(report.vmID)", "http.status": .stringConvertible(response.status.code)])
                    return
                }
            } catch {
                logger.info(
                    "Guest could not report", metadata: ["vm.id": "\(report.vmID)", "attempt": .stringConvertible(attempt), "error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(200 * attempt))
            if Task.isCancelled { return }
        }
    }

    /// Writes a template's image from its provisioned volume to secondary storage (outside the world's lock).
    func writeProvisionedImage(templateID: String, _ image: PendingImage) {
        let path = storageDirectory.appendingPathComponent("template-\(templateID).qcow2").path
        do {
            let size = try GuestImage.write(base: image.base, userData: image.userData, to: path)
            store.withLock { world in
                guard var record = world.templates[templateID] else { return }
                record.filePath = path
                for zone in record.zoneOrder { record.stores[zone]?.physicalSize = size }
                if record.removed { world.deletedFiles.append(path) }
                world.templates[templateID] = record
            }
        } catch {
            logger.error("Could not write a provisioned template image", metadata: ["template.id": "\(templateID)", "error": "\(error)"])
            store.withLock { world in
                for zone in world.templates[templateID]?.zoneOrder ?? [] {
                    world.templates[templateID]?.stores[zone]?.state = .error
                    world.templates[templateID]?.stores[zone]?.errorText = "\(error)"
                }
            }
        }
    }
}
