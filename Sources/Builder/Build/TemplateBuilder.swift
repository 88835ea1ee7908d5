import CloudStack
import Core
import Foundation
import Logging
import Synchronization
import TemplateRepository

/// Builds a template from a recipe inside one region's CloudStack and publishes it as a new version:
/// deploys a builder VM from the base with the provisioning as user data, waits for its guest to report
/// (through a one-time callback) and power off, makes a template of its root volume, downloads it through
/// `extractTemplate` and publishes it. Whatever happens, the builder VM (with its volumes), the temporary
/// template and the downloaded file are removed, and the report names the step that failed.
///
/// ```swift
/// let builder = TemplateBuilder(configuration: .init(callbackBaseURL: server, workDirectory: scratch), client: client,
///                               region: "MECA-TUS", publisher: repository, store: builds, logger: logger)
/// let report = await builder.build(recipe, requestedBy: "admin")
/// ```
public struct TemplateBuilder: Sendable {
    public struct Configuration: Sendable {
        /// The server's URL as the builder VM reaches it; the guest posts to `…/api/v1/builds/ID/callback`.
        public var callbackBaseURL: String
        /// Where images are downloaded to before publishing.
        public var workDirectory: URL
        /// How often (clock seconds) the VM and the callback are looked at while provisioning. Default 5.
        public var pollSeconds: Double = 5
        /// After the report, how long the guest has to power itself off before it is stopped. Default 120.
        public var powerOffGraceSeconds: Double = 120
        /// After the VM powered off without a report, how long one may still be on its way. Default 30.
        public var reportGraceSeconds: Double = 30
        public var download = ImageDownload()

        public init(callbackBaseURL: String, workDirectory: URL) {
            self.callbackBaseURL = callbackBaseURL
            self.workDirectory = workDirectory
        }
    }

    public let configuration: Configuration
    public let client: CloudStackClient
    public let region: String
    public let publisher: any BuildPublisher
    public let store: BuildStore
    let clock: any WallClock
    let logger: Logger
    let onLine: (@Sendable (BuildLogLine) -> Void)?

    /// - Parameter onLine: called with each log line as it is written (a terminal's progress).
    public init(
        configuration: Configuration, client: CloudStackClient, region: String, publisher: any BuildPublisher, store: BuildStore,
        clock: any WallClock = SystemWallClock(), logger: Logger, onLine: (@Sendable (BuildLogLine) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.client = client
        self.region = region
        self.publisher = publisher
        self.store = store
        self.clock = clock
        self.logger = logger
        self.onLine = onLine
    }

    /// A new build id (`bld-` and 16 hex digits).
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return "bld-" + (0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString
    }

    /// The name of a build's VM and temporary template: recognisable, and unique to the build.
    public static func resourceName(_ id: String) -> String { "mclouds-build-\(id.dropFirst(4).prefix(12))" }

    /// What a build made in CloudStack and on disk, for the cleanup.
    struct Made {
        var name: String
        var vmID: String?
        var templateID: String?
        var file: String?
    }

    /// What the resolve step found.
    struct Resolved {
        var zoneID: String
        var baseID: String
        var baseName: String
        var offeringID: String
        var osTypeID: String
        var version: String
    }

    /// Builds `recipe` and publishes the result. Never throws: a failure is in the report (``BuildReport/failedStep``).
    /// - Parameters:
    ///   - id: the build's id (``newID()``), when the caller made one.
    ///   - requestedBy: who asked (a user name, or `schedule`).
    public func build(_ recipe: Recipe, id: String = TemplateBuilder.newID(), requestedBy: String) async -> BuildReport {
        var report = BuildReport(id: id, recipe: recipe, region: region, requestedBy: requestedBy, started: Timestamps.string(from: clock.now()))
        report.step = .resolve
        var made = Made(name: Self.resourceName(id))
        var logger = logger
        logger[metadataKey: "build.id"] = "\(id)"
        logger[metadataKey: "region.name"] = "\(region)"
        do {
            try await store.start(report, now: clock.now())
        } catch {
            report.state = .failed
            report.failedStep = .resolve
            report.error = "the build could not be recorded: \(error)"
            return report
        }
        await note(&report, .resolve, "building \(recipe.name) in \(region) (recipe sha256 \(recipe.digest.prefix(12)))", logger: logger)
        // The build stays `running` until its cleanup is done: a follower that sees it end finds nothing left behind.
        var failed = false
        do {
            try await run(recipe, &report, &made, logger: logger)
            await note(&report, .publish, "published \(recipe.name)@\(report.version ?? "")", logger: logger)
        } catch {
            failed = true
            report.failedStep = (error as? BuilderError)?.step ?? report.step
            report.error = Self.message(error)
            await note(&report, report.failedStep, "failed: \(report.error ?? "")", logger: logger)
        }
        // The cleanup runs to its end even when the build was cancelled (a server shutting down).
        let leftovers = await Task { [made, logger] in await cleanUp(made, logger: logger) }.value
        report.leftovers = leftovers
        for leftover in leftovers { await note(&report, nil, "could not remove \(leftover)", logger: logger) }
        if leftovers.isEmpty { await note(&report, nil, "removed the builder VM, its volumes and the temporary template", logger: logger) }
        report.state = failed ? .failed : .succeeded
        report.finished = Timestamps.string(from: clock.now())
        try? await store.save(report)
        return report
    }

    /// The steps, in order; each sets the report's step before it starts.
    private func run(_ recipe: Recipe, _ report: inout BuildReport, _ made: inout Made, logger: Logger) async throws {
        let resolved = try await resolve(recipe, &report, logger: logger)
        report.version = resolved.version
        report.base = resolved.baseName
        try await store.save(report)

        await note(&report, .deploy, "deploying \(made.name) from \(resolved.baseName)", logger: logger)
        let token = try await store.openCallback(report.id)
        let base = configuration.callbackBaseURL.hasSuffix("/") ? String(configuration.callbackBaseURL.dropLast()) : configuration.callbackBaseURL
        let callback = base + "/api/v1/builds/\(report.id)/callback?token=\(token)"
        let plan = BuildPlan(callback: callback, scripts: UserData.scriptPaths(for: recipe), checks: recipe.checks)
        let userData = try UserData.generate(for: recipe, plan: plan)
        var request = DeployVirtualMachineRequest(zoneID: resolved.zoneID, templateID: resolved.baseID, serviceOfferingID: resolved.offeringID)
        request.name = made.name
        request.displayName = "mClouds build of \(recipe.name)@\(resolved.version)"
        request.userData = Data(userData.utf8).base64EncodedString()
        request.rootDiskSizeGiB = recipe.build.diskGiB
        do {
            let vm = try await client.deployVirtualMachine(request, logger: logger)
            made.vmID = vm.id
        } catch {
            throw BuilderError.stepFailed(.deploy, Self.message(error))
        }
        guard let vmID = made.vmID else { throw BuilderError.stepFailed(.deploy, "CloudStack answered without the VM's id") }

        await note(&report, .provision, "waiting for the guest to install and report (at most \(recipe.build.timeoutMinutes) min)", logger: logger)
        let guest = try await awaitReport(buildID: report.id, vmID: vmID, timeout: Double(recipe.build.timeoutMinutes) * 60)

        await note(&report, .checks, "the guest reported \(guest.checks.count) check(s)", logger: logger)
        if let script = guest.scripts?.first {
            for line in script.output.split(separator: "\n").suffix(20) { await note(&report, .checks, "  \(script.name): \(line)", logger: logger) }
            throw BuilderError.stepFailed(.checks, "script \(script.name) exited \(script.exitCode) (its output is in the build log)")
        }
        report.checks = guest.checks.map {
            BuildProvenance.Check(name: $0.name, command: $0.command, exitCode: $0.exitCode, output: String($0.output.suffix(4096)))
        }
        for check in guest.checks {
            await note(&report, .checks, "check \(check.name) (\(check.command)): exit \(check.exitCode)", logger: logger)
            for line in check.output.split(separator: "\n").prefix(50) { await note(&report, .checks, "  \(line)", logger: logger) }
        }
        let missing = recipe.checks.map(\.name).filter { name in !guest.checks.contains { $0.name == name } }
        if let failed = guest.checks.first(where: { $0.exitCode != 0 }) {
            throw BuilderError.stepFailed(.checks, "check \(failed.name) (\(failed.command)) exited \(failed.exitCode)")
        }
        if !missing.isEmpty { throw BuilderError.stepFailed(.checks, "the guest did not run check(s) \(missing.joined(separator: ", "))") }

        await note(&report, .stop, "waiting for the guest to power off", logger: logger)
        try await stop(vmID: vmID)

        await note(&report, .createTemplate, "making a template of the root volume", logger: logger)
        let template: Template
        do {
            guard let volume = try await client.listVolumes(virtualMachineID: vmID, type: "ROOT", logger: logger).first, let volumeID = volume.id
            else {
                throw BuilderError.stepFailed(.createTemplate, "the builder VM has no root volume")
            }
            template = try await client.createTemplate(
                name: made.name, displayText: "mClouds build \(report.id) of \(recipe.name)", osTypeID: resolved.osTypeID, volumeID: volumeID,
                logger: logger)
            made.templateID = template.id
        } catch let error as BuilderError {
            throw error
        } catch {
            throw BuilderError.stepFailed(.createTemplate, Self.message(error))
        }
        guard let templateID = template.id else { throw BuilderError.stepFailed(.createTemplate, "CloudStack answered without the template's id") }

        await note(&report, .extract, "asking for a download URL (extractTemplate)", logger: logger)
        let url: String
        let expected: Int64
        do {
            let extracted = try await client.extractTemplate(id: templateID, zoneID: resolved.zoneID, logger: logger)
            guard let found = extracted.url else { throw BuilderError.stepFailed(.extract, "extractTemplate answered without a URL") }
            url = found
            let listed = try await client.listTemplates(filter: .self, id: templateID, zoneID: resolved.zoneID, logger: logger).first
            guard let size = listed?.physicalsize, size > 0 else {
                throw BuilderError.stepFailed(.extract, "CloudStack reports no size for the template, so its download cannot be verified")
            }
            expected = size
        } catch let error as BuilderError {
            throw error
        } catch {
            throw BuilderError.stepFailed(.extract, Self.message(error))
        }

        await note(&report, .download, "downloading \(Self.bytes(expected))", logger: logger)
        try FileManager.default.createDirectory(at: configuration.workDirectory, withIntermediateDirectories: true)
        let file = configuration.workDirectory.appendingPathComponent("\(report.id).\(recipe.output.format.rawValue.lowercased())").path
        made.file = file
        let quarters = ProgressMarks(total: expected)
        let buildID = report.id
        do {
            try await configuration.download.fetch(url, to: file, expectedSize: expected, logger: logger) { have in
                if let mark = quarters.crossed(have) { logger.info("downloaded \(mark) %", metadata: ["build.id": "\(buildID)"]) }
            }
        } catch let error as BuilderError {
            throw error
        } catch {
            throw BuilderError.stepFailed(.download, Self.message(error))
        }
        await note(&report, .download, "downloaded \(Self.bytes(expected)), the size CloudStack reports", logger: logger)

        await note(&report, .publish, "publishing \(recipe.name)@\(resolved.version)", logger: logger)
        let metadata = TemplateMetadata(
            name: recipe.name, version: resolved.version, format: recipe.output.format, hypervisor: recipe.output.hypervisor,
            osType: recipe.output.osType, displayText: recipe.output.displayText.map { "\($0) \(resolved.version)" }, software: recipe.softwareList,
            minimumCPUs: recipe.output.minimumCPUs, minimumMemoryMB: recipe.output.minimumMemoryMB,
            build: BuildProvenance(
                recipe: recipe.name, recipeDigest: recipe.digest, region: region, base: resolved.baseName, checks: report.checks))
        let published: PublishReport
        do {
            published = try await publisher.publish(imageAt: file, metadata: metadata) { _ in }
        } catch {
            throw BuilderError.stepFailed(.publish, Self.message(error))
        }
        report.imageSize = published.size
        report.chunks = published.chunks
        report.newChunks = published.newChunks
        report.newBytes = published.newBytes
        if let previous = report.previousVersion {
            if let old = try? await publisher.chunks(of: recipe.name, version: previous),
                let new = try? await publisher.chunks(of: recipe.name, version: resolved.version), published.size > 0
            {
                let oldDigests = Set(old.map(\.digest))
                let shared = new.filter { oldDigests.contains($0.digest) }.reduce(Int64(0)) { $0 + Int64($1.length) }
                report.sharedWithPrevious = Double(shared) / Double(published.size)
            }
        }
        let share =
            report.sharedWithPrevious.map { String(format: ", %.1f %% of it in chunks shared with %@", $0 * 100, report.previousVersion ?? "") } ?? ""
        await note(
            &report, .publish,
            "\(Self.bytes(published.size)) in \(published.chunks) chunks, \(published.newChunks) new (\(Self.bytes(published.newBytes)))\(share)",
            logger: logger)
    }

    // MARK: Steps

    private func resolve(_ recipe: Recipe, _ report: inout BuildReport, logger: Logger) async throws -> Resolved {
        do {
            var zoneID: String?
            if let zone = recipe.build.zone {
                guard let found = try await client.listZones(name: zone, logger: logger).first(where: { $0.name == zone })?.id else {
                    throw BuilderError.stepFailed(.resolve, "region \(region) has no zone \(zone) (build.zone)")
                }
                zoneID = found
            }
            let candidates: [Template]
            switch recipe.base {
            case .repository(let name, let version):
                var tags = [ResourceTag(key: RegistrationTags.template, value: name)]
                if let version { tags.append(ResourceTag(key: RegistrationTags.version, value: version)) }
                candidates = try await client.listTemplates(filter: .all, zoneID: zoneID, tags: tags, logger: logger)
            case .cloudStack(let name):
                candidates = try await client.listTemplates(filter: .executable, name: name, zoneID: zoneID, logger: logger).filter {
                    $0.name == name
                }
            }
            let ready = candidates.filter { $0.isready == true && $0.id != nil && $0.zoneid != nil }
            guard let base = ready.max(by: { ($0.created?.date ?? .distantPast) < ($1.created?.date ?? .distantPast) }) else {
                throw BuilderError.stepFailed(
                    .resolve,
                    "the base \(recipe.base) is not ready in region \(region)\(zoneID == nil ? "" : " zone \(recipe.build.zone ?? "")"): subscribe the region's agent to it (or name a CloudStack template that is)"
                )
            }
            let baseName: String
            switch recipe.base {
            case .repository(let name, _):
                baseName = "\(name)@\(base.tags?.first { $0.key == RegistrationTags.version }?.value ?? "?")"
            case .cloudStack(let name):
                baseName = "cloudstack:\(name)"
            }
            guard
                let offering = try await client.listServiceOfferings(name: recipe.build.offering, logger: logger).first(where: {
                    $0.name == recipe.build.offering
                })?.id
            else {
                throw BuilderError.stepFailed(.resolve, "region \(region) has no service offering \(recipe.build.offering) (build.offering)")
            }
            let osTypes = try await client.listOsTypes(description: recipe.output.osType, logger: logger)
            guard let osTypeID = osTypes.first(where: { $0.description == recipe.output.osType })?.id ?? base.ostypeid else {
                throw BuilderError.stepFailed(.resolve, "region \(region) knows no OS type \(recipe.output.osType) (output.osType)")
            }
            let existing = try await publisher.versions(of: recipe.name)
            report.previousVersion = existing.last
            let version = try recipe.version.next(existing: existing, now: clock.now(), metadata: recipe.metadata)
            return Resolved(
                zoneID: base.zoneid!, baseID: base.id!, baseName: baseName, offeringID: offering, osTypeID: osTypeID, version: version)
        } catch let error as BuilderError {
            throw error.step == nil ? BuilderError.stepFailed(.resolve, error.message) : error
        } catch {
            throw BuilderError.stepFailed(.resolve, Self.message(error))
        }
    }

    /// Waits for the guest's report, watching the VM: a VM that fails, vanishes or powers off without
    /// reporting, and a deadline that passes, end the build.
    private func awaitReport(buildID: String, vmID: String, timeout: Double) async throws -> GuestReport {
        let deadline = clock.now().addingTimeInterval(timeout)
        var stoppedSince: Date?
        while true {
            if let report = try await store.callbackReport(buildID) { return report }
            let state: String?
            do {
                state = try await client.listVirtualMachines(id: vmID, logger: logger).first?.state
            } catch {
                logger.info("could not look at the builder VM; trying again", metadata: ["error": "\(error)"])
                state = "Unknown"
            }
            switch state {
            case nil, "Destroyed", "Expunging", "Error":
                throw BuilderError.stepFailed(.provision, "the builder VM is \(state ?? "gone") before its guest reported")
            case "Stopped":
                let since = stoppedSince ?? clock.now()
                stoppedSince = since
                if clock.now().timeIntervalSince(since) >= configuration.reportGraceSeconds {
                    throw BuilderError.stepFailed(
                        .provision, "the builder VM powered off without its guest reporting (see its console log in CloudStack)")
                }
            default:
                break
            }
            if clock.now() >= deadline {
                throw BuilderError.stepFailed(
                    .provision, "the guest did not finish provisioning within \(Int(timeout / 60)) minutes (build.timeoutMinutes)")
            }
            try await clock.sleep(seconds: configuration.pollSeconds)
        }
    }

    private func stop(vmID: String) async throws {
        let deadline = clock.now().addingTimeInterval(configuration.powerOffGraceSeconds)
        do {
            while try await client.listVirtualMachines(id: vmID, logger: logger).first?.state != "Stopped" {
                if clock.now() >= deadline {
                    _ = try await client.stopVirtualMachine(id: vmID, forced: true, logger: logger)
                    return
                }
                try await clock.sleep(seconds: configuration.pollSeconds)
            }
        } catch {
            throw BuilderError.stepFailed(.stop, Self.message(error))
        }
    }

    // MARK: Cleanup

    /// Removes everything the build made — found by name as well as by id, so that a VM or template whose
    /// creation answer was lost is removed too. Returns what could not be removed.
    func cleanUp(_ made: Made, logger: Logger) async -> [String] {
        var leftovers: [String] = []
        do {
            var ids = Set(try await client.listVirtualMachines(name: made.name, logger: logger).filter { $0.name == made.name }.compactMap(\.id))
            if let id = made.vmID { ids.insert(id) }
            for id in ids.sorted() {
                do {
                    _ = try await client.destroyVirtualMachine(id: id, expunge: true, logger: logger)
                } catch let error as CloudStackError where error.errorCode == 431 {
                    // Already gone.
                } catch {
                    leftovers.append("builder VM \(made.name) (\(id)): \(Self.message(error))")
                }
            }
        } catch {
            leftovers.append("builder VM \(made.name): \(Self.message(error))")
        }
        do {
            var ids = Set(
                try await client.listTemplates(filter: .self, name: made.name, logger: logger).filter { $0.name == made.name }.compactMap(\.id))
            if let id = made.templateID { ids.insert(id) }
            for id in ids.sorted() {
                do {
                    try await client.deleteTemplate(id: id, forced: true, logger: logger)
                } catch let error as CloudStackError where error.errorCode == 431 {
                } catch {
                    leftovers.append("temporary template \(made.name) (\(id)): \(Self.message(error))")
                }
            }
        } catch {
            leftovers.append("temporary template \(made.name): \(Self.message(error))")
        }
        if let file = made.file, FileManager.default.fileExists(atPath: file) {
            do { try FileManager.default.removeItem(atPath: file) } catch { leftovers.append("downloaded image \(file): \(error)") }
        }
        return leftovers
    }

    // MARK: Log

    /// Sets the step, logs a line (store, logger, terminal) and saves the report.
    private func note(_ report: inout BuildReport, _ step: BuildStep?, _ text: String, logger: Logger) async {
        if let step, report.state == .running { report.step = step }
        logger.info("\(text)", metadata: ["build.step": "\(step?.rawValue ?? "-")"])
        if let line = try? await store.log(report.id, step: step, text, now: clock.now()) { onLine?(line) }
        try? await store.save(report)
    }

    static func message(_ error: any Error) -> String {
        if let error = error as? BuilderError { return error.message }
        return "\(error)"
    }

    static func bytes(_ count: Int64) -> String {
        let mib = Double(count) / 1_048_576
        return mib >= 1 ? String(format: "%.1f MiB", mib) : "\(count) bytes"
    }
}

/// Says when a download crosses 25, 50, 75 and 100 % (once each).
final class ProgressMarks: Sendable {
    private let total: Int64
    private let next = Mutex(25)

    init(total: Int64) { self.total = total }

    func crossed(_ have: Int64) -> Int? {
        next.withLock { mark in
            guard total > 0, mark <= 100, have * 100 >= Int64(mark) * total else { return nil }
            defer { mark += 25 }
            return mark
        }
    }
}
