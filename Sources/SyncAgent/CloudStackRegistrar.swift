import CloudStack
import Core
import Foundation
import Logging
import TemplateRepository

/// The local CloudStack as the agent sees it: templates it registered (found by their `mclouds.*` tags),
/// and the calls that register, tag, feature and delete them.
public struct CloudStackRegistrar: Sendable {
    public static let templateTag = RegistrationTags.template
    public static let versionTag = RegistrationTags.version
    public static let digestTag = RegistrationTags.digest

    public let client: CloudStackClient
    /// Zones to register in; empty means all zones (`zoneid=-1`).
    public var zoneIDs: [String]
    let logger: Logger

    public init(client: CloudStackClient, zoneIDs: [String] = [], logger: Logger) {
        self.client = client
        self.zoneIDs = zoneIDs
        self.logger = logger
    }

    /// The name a version is registered under: `ubuntu 2 (mclouds 3f2a9c0d1e2b)`. Template names and versions
    /// hold no spaces, so the name says which version it is, and with the checksum CloudStack keeps, a
    /// registration whose tags never came (the agent died, or `createTags` failed) is still recognised.
    public static func registrationName(template: String, version: String, digest: String) -> String {
        "\(template) \(version) (mclouds \(digest.prefix(12)))"
    }

    /// The version a registration name and checksum denote, if they are an mClouds registration's.
    static func identity(name: String?, checksum: String?) -> (template: String, version: String, digest: String)? {
        let parts = (name ?? "").split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[2] == "(mclouds", parts[3].hasSuffix(")"), var checksum else { return nil }
        // CloudStack keeps `{SHA-256}…` and lists the hex alone.
        if checksum.hasPrefix("{") {
            guard checksum.uppercased().hasPrefix("{SHA-256}") else { return nil }
            checksum = String(checksum.dropFirst("{SHA-256}".count))
        }
        let digest = checksum.lowercased()
        guard digest.count == 64, digest.hasPrefix(parts[3].dropLast()), parts[3].count == 13 else { return nil }
        return (String(parts[0]), String(parts[1]), digest)
    }

    /// The templates this agent registered, with their state and how many VMs use each: those carrying its
    /// `mclouds.*` tags, and those an interrupted pass left untagged (``Installed/tagged`` false).
    public func installed() async throws -> [RolloutPlanner.Installed] {
        let rows = try await client.listTemplates(filter: .self, logger: logger)
        var byID: [String: [Template]] = [:]
        var order: [String] = []
        for row in rows {
            guard let id = row.id else { continue }
            if byID[id] == nil { order.append(id) }
            byID[id, default: []].append(row)
        }
        var result: [RolloutPlanner.Installed] = []
        for id in order {
            let copies = byID[id]!
            let first = copies[0]
            let identity: (template: String, version: String, digest: String)
            let tagged: Bool
            if let digest = Self.tag(first, Self.digestTag) {
                identity = (Self.tag(first, Self.templateTag) ?? "", Self.tag(first, Self.versionTag) ?? "", digest)
                tagged = true
            } else if let found = Self.identity(name: first.name, checksum: first.checksum) {
                identity = found
                tagged = false
            } else {
                continue
            }
            let state: RolloutPlanner.Installed.State
            if copies.allSatisfy({ $0.isready == true }) {
                state = .ready
            } else if copies.contains(where: { Self.failed($0) }) {
                state = .failed
            } else {
                state = .inProgress
            }
            let used = try await client.listVirtualMachines(templateID: id, logger: logger).count
            var copy = RolloutPlanner.Installed(
                id: id, template: identity.template, version: identity.version, digest: identity.digest, state: state,
                featured: first.isfeatured == true, usedBy: used, tagged: tagged)
            if state == .failed { copy.failure = copies.lazy.compactMap { Self.failed($0) ? $0.status : nil }.first }
            result.append(copy)
        }
        return result
    }

    static func tag(_ template: Template, _ key: String) -> String? {
        template.tags?.first { $0.key == key }?.value
    }

    /// CloudStack reports a failed download in the status text (`… Error`, checksum mismatch, …).
    static func failed(_ template: Template) -> Bool {
        let status = (template.status ?? "").lowercased()
        return status.contains("error") || status.contains("fail") || status.contains("didn't match")
            || template.downloaddetails?.contains { $0.downloadState == "DOWNLOAD_ERROR" } == true
    }

    /// Registers a verified image served at `url` and tags it; returns the template id. When tagging fails,
    /// the new registration is deleted again (and if that fails too, the next pass adopts it by its name).
    public func register(_ manifest: TemplateManifest, url: String) async throws -> String {
        let osTypes = try await client.listOsTypes(description: manifest.osType, logger: logger)
        guard let osType = osTypes.first(where: { $0.description == manifest.osType }) ?? osTypes.first, let osTypeID = osType.id else {
            throw SyncAgentError.unknownOSType(manifest.osType)
        }
        var request = RegisterTemplateRequest(
            name: Self.registrationName(template: manifest.name, version: manifest.version, digest: manifest.sha256),
            displayText: "\(manifest.displayText) (\(manifest.version))", url: url, format: manifest.format.rawValue,
            hypervisor: manifest.hypervisor.rawValue, osTypeID: osTypeID, zoneIDs: zoneIDs.isEmpty ? ["-1"] : zoneIDs)
        request.checksum = "{SHA-256}\(manifest.sha256)"
        request.isPublic = true
        request.isExtractable = false
        let rows = try await client.registerTemplate(request, logger: logger)
        guard let id = rows.first?.id else {
            throw SyncAgentError.unreachable(client.configuration.endpoint, "registerTemplate returned no template")
        }
        do {
            try await tag(id, template: manifest.name, version: manifest.version, digest: manifest.sha256)
        } catch {
            do {
                try await client.deleteTemplate(id: id, logger: logger)
            } catch {
                logger.warning(
                    "an untagged registration stays until the next pass adopts it", metadata: ["template.id": "\(id)", "error": "\(error)"])
            }
            throw error
        }
        logger.info("template registered", metadata: ["template": "\(manifest.name)", "version": "\(manifest.version)", "id": "\(id)"])
        return id
    }

    /// Tags a registration as the agent's copy of one version (also to adopt one an interrupted pass left untagged).
    public func tag(_ id: String, template: String, version: String, digest: String) async throws {
        try await client.createTags(
            resourceIDs: [id], resourceType: "Template",
            tags: [
                ResourceTag(key: Self.templateTag, value: template), ResourceTag(key: Self.versionTag, value: version),
                ResourceTag(key: Self.digestTag, value: digest),
            ], logger: logger)
    }

    public func setFeatured(_ id: String, _ featured: Bool) async throws {
        _ = try await client.updateTemplate(id: id, isFeatured: featured, logger: logger)
    }

    public func delete(_ id: String) async throws {
        try await client.deleteTemplate(id: id, logger: logger)
    }
}
