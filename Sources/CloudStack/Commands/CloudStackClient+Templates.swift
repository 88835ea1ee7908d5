import Core
import Logging

/// The parameters of `registerTemplate`.
public struct RegisterTemplateRequest: Sendable {
    public var name: String
    public var displayText: String
    public var url: String
    public var format: String
    public var hypervisor: String
    public var osTypeID: String
    /// Zone ids; `["-1"]` registers in all zones.
    public var zoneIDs: [String]
    /// `{SHA-256}hex`, `{SHA-512}hex`, `{SHA-1}hex` or a bare MD5.
    public var checksum: String?
    public var isPublic: Bool?
    public var isFeatured: Bool?
    public var isExtractable: Bool?
    public var passwordEnabled: Bool?
    public var templateTag: String?
    public var details: [String: String] = [:]

    public init(name: String, displayText: String, url: String, format: String, hypervisor: String, osTypeID: String, zoneIDs: [String]) {
        self.name = name
        self.displayText = displayText
        self.url = url
        self.format = format
        self.hypervisor = hypervisor
        self.osTypeID = osTypeID
        self.zoneIDs = zoneIDs
    }

    var parameters: Parameters {
        var p: Parameters = [
            "name": name, "displaytext": displayText, "url": url, "format": format, "hypervisor": hypervisor, "ostypeid": osTypeID,
        ]
        if zoneIDs.count == 1 { p["zoneid"] = zoneIDs[0] } else { p.set("zoneids", list: zoneIDs) }
        p["checksum"] = checksum
        p.set("ispublic", isPublic)
        p.set("isfeatured", isFeatured)
        p.set("isextractable", isExtractable)
        p.set("passwordenabled", passwordEnabled)
        p["templatetag"] = templateTag
        if !details.isEmpty { p.set("details", details: details) }
        return p
    }
}

/// Which templates `listTemplates` returns.
public enum TemplateFilter: String, Sendable {
    case featured, `self`, selfexecutable, sharedexecutable, executable, community, all
}

extension CloudStackClient {
    /// `listTemplates` (one row per template and zone, all pages).
    public func listTemplates(
        filter: TemplateFilter = .all, id: String? = nil, name: String? = nil, zoneID: String? = nil, tags: [ResourceTag] = [], logger: Logger
    ) async throws -> [Template] {
        var p: Parameters = ["templatefilter": filter.rawValue]
        p["id"] = id
        p["name"] = name
        p["zoneid"] = zoneID
        p.set("tags", tags: tags)
        return try await list("listTemplates", p.values, as: Template.self, logger: logger)
    }

    /// `registerTemplate`: asks secondary storage to download `url`. Returns one row per zone.
    public func registerTemplate(_ request: RegisterTemplateRequest, logger: Logger) async throws -> [Template] {
        try await call("registerTemplate", request.parameters.values, as: ListPage<Template>.self, logger: logger).items
    }

    /// `updateTemplate`: changes names and flags of a template.
    public func updateTemplate(
        id: String, name: String? = nil, displayText: String? = nil, osTypeID: String? = nil, isFeatured: Bool? = nil, isPublic: Bool? = nil,
        logger: Logger
    ) async throws -> Template {
        var p: Parameters = ["id": id]
        p["name"] = name
        p["displaytext"] = displayText
        p["ostypeid"] = osTypeID
        // isfeatured/ispublic are updateTemplatePermissions parameters in CloudStack; updateTemplate takes the rest.
        let template = try await callObject("updateTemplate", p.values, as: Template.self, logger: logger)
        if isFeatured != nil || isPublic != nil {
            var perms: Parameters = ["id": id]
            perms.set("isfeatured", isFeatured)
            perms.set("ispublic", isPublic)
            _ = try await call("updateTemplatePermissions", perms.values, logger: logger)
            return try await listTemplates(filter: .all, id: id, logger: logger).first ?? template
        }
        return template
    }

    /// `deleteTemplate`, waiting for the job; without `zoneID` it is removed from every zone.
    public func deleteTemplate(id: String, zoneID: String? = nil, forced: Bool = false, logger: Logger) async throws {
        var p: Parameters = ["id": id]
        p["zoneid"] = zoneID
        if forced { p.set("forced", true) }
        _ = try await run("deleteTemplate", p.values, logger: logger)
    }

    /// `createTemplate` from a stopped VM's root volume, waiting for the job.
    public func createTemplate(name: String, displayText: String, osTypeID: String, volumeID: String, logger: Logger) async throws -> Template {
        try await run(
            "createTemplate", ["name": name, "displaytext": displayText, "ostypeid": osTypeID, "volumeid": volumeID],
            resultAs: Template.self, logger: logger)
    }

    /// `extractTemplate` in `HTTP_DOWNLOAD` mode: a URL the template can be downloaded from.
    public func extractTemplate(id: String, zoneID: String? = nil, logger: Logger) async throws -> ExtractedTemplate {
        var p: Parameters = ["id": id, "mode": "HTTP_DOWNLOAD"]
        p["zoneid"] = zoneID
        return try await run("extractTemplate", p.values, resultAs: ExtractedTemplate.self, logger: logger)
    }

    /// `createTags` on resources of one type (`Template`, `UserVm`, …), waiting for the job.
    public func createTags(resourceIDs: [String], resourceType: String, tags: [ResourceTag], logger: Logger) async throws {
        var p: Parameters = ["resourcetype": resourceType]
        p.set("resourceids", list: resourceIDs)
        p.set("tags", tags: tags)
        _ = try await run("createTags", p.values, logger: logger)
    }

    /// `listTags`.
    public func listTags(resourceType: String? = nil, resourceID: String? = nil, key: String? = nil, logger: Logger) async throws -> [ResourceTag] {
        var p: Parameters = ["listall": "true"]
        p["resourcetype"] = resourceType
        p["resourceid"] = resourceID
        p["key"] = key
        return try await list("listTags", p.values, as: ResourceTag.self, logger: logger)
    }

    /// `deleteTags`; with no `tags` every tag of the resources goes.
    public func deleteTags(resourceIDs: [String], resourceType: String, tags: [ResourceTag] = [], logger: Logger) async throws {
        var p: Parameters = ["resourcetype": resourceType]
        p.set("resourceids", list: resourceIDs)
        p.set("tags", tags: tags)
        _ = try await run("deleteTags", p.values, logger: logger)
    }
}
