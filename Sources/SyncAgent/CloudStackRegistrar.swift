import CloudStack
import Core
import Foundation
import Logging
import TemplateRepository

/// The local CloudStack as the agent sees it: templates it registered (found by their `mclouds.*` tags),
/// and the calls that register, tag, feature and delete them.
public struct CloudStackRegistrar: Sendable {
    public static let templateTag = "mclouds.template"
    public static let versionTag = "mclouds.version"
    public static let digestTag = "mclouds.digest"

    public let client: CloudStackClient
    /// Zones to register in; empty means all zones (`zoneid=-1`).
    public var zoneIDs: [String]
    let logger: Logger

    public init(client: CloudStackClient, zoneIDs: [String] = [], logger: Logger) {
        self.client = client
        self.zoneIDs = zoneIDs
        self.logger = logger
    }

    /// The templates this agent registered, with their state and how many VMs use each.
    public func installed() async throws -> [RolloutPlanner.Installed] {
        let rows = try await client.listTemplates(filter: .self, logger: logger)
        var byID: [String: [Template]] = [:]
        var order: [String] = []
        for row in rows {
            guard let id = row.id, Self.tag(row, Self.digestTag) != nil else { continue }
            if byID[id] == nil { order.append(id) }
            byID[id, default: []].append(row)
        }
        var result: [RolloutPlanner.Installed] = []
        for id in order {
            let copies = byID[id]!
            let first = copies[0]
            let state: RolloutPlanner.Installed.State
            if copies.allSatisfy({ $0.isready == true }) {
                state = .ready
            } else if copies.contains(where: { Self.failed($0) }) {
                state = .failed
            } else {
                state = .inProgress
            }
            let used = try await client.listVirtualMachines(templateID: id, logger: logger).count
            result.append(
                .init(
                    id: id, template: Self.tag(first, Self.templateTag) ?? "", version: Self.tag(first, Self.versionTag) ?? "",
                    digest: Self.tag(first, Self.digestTag) ?? "", state: state, featured: first.isfeatured == true, usedBy: used))
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

    /// Registers a verified image served at `url` and tags it; returns the template id.
    public func register(_ manifest: TemplateManifest, url: String) async throws -> String {
        let osTypes = try await client.listOsTypes(description: manifest.osType, logger: logger)
        guard let osType = osTypes.first(where: { $0.description == manifest.osType }) ?? osTypes.first, let osTypeID = osType.id else {
            throw SyncAgentError.unknownOSType(manifest.osType)
        }
        var request = RegisterTemplateRequest(
            name: "\(manifest.name)-\(manifest.version)", displayText: "\(manifest.displayText) (\(manifest.version))", url: url,
            format: manifest.format.rawValue, hypervisor: manifest.hypervisor.rawValue, osTypeID: osTypeID,
            zoneIDs: zoneIDs.isEmpty ? ["-1"] : zoneIDs)
        request.checksum = "{SHA-256}\(manifest.sha256)"
        request.isPublic = true
        request.isExtractable = false
        let rows = try await client.registerTemplate(request, logger: logger)
        guard let id = rows.first?.id else {
            throw SyncAgentError.unreachable(client.configuration.endpoint, "registerTemplate returned no template")
        }
        try await client.createTags(
            resourceIDs: [id], resourceType: "Template",
            tags: [
                ResourceTag(key: Self.templateTag, value: manifest.name), ResourceTag(key: Self.versionTag, value: manifest.version),
                ResourceTag(key: Self.digestTag, value: manifest.sha256),
            ], logger: logger)
        logger.info("template registered", metadata: ["template": "\(manifest.name)", "version": "\(manifest.version)", "id": "\(id)"])
        return id
    }

    public func setFeatured(_ id: String, _ featured: Bool) async throws {
        _ = try await client.updateTemplate(id: id, isFeatured: featured, logger: logger)
    }

    public func delete(_ id: String) async throws {
        try await client.deleteTemplate(id: id, logger: logger)
    }
}
