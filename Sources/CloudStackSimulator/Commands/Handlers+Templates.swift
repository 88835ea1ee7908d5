import CloudStack
import Core
import Foundation

/// A template URL the simulated secondary storage must fetch.
struct DownloadRequest: Codable, Sendable, Hashable {
    var templateID: String
    var url: String
    /// As registered, with its `{ALG}` prefix (bare hex = MD5).
    var checksum: String?
    var format: String
}

extension World {
    static let imageFormats = ["QCOW2", "RAW", "VHD", "VHDX", "ISO", "OVA", "BAREMETAL", "VMDK", "VDI", "TAR", "ZIP", "DIR"]
    static let hypervisors = ["KVM", "XenServer", "VMware", "Hyperv", "BareMetal", "Simulator", "LXC", "Ovm3", "Any"]
    static let checksumAlgorithms = ["MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512"]

    /// One template row as `listTemplates` shows it for a zone.
    func templateView(id: String, zoneID: String?) -> JSONValue {
        guard let record = templates[id] else { return .object([]) }
        var t = record.template
        if let zoneID, let zone = zones.first(where: { $0.zone.id == zoneID }), let store = record.stores[zoneID] {
            t.zoneid = zoneID
            t.zonename = zone.zone.name
            t.isready = store.state == .downloaded
            t.size = store.size.flatMap { $0 > 0 ? $0 : nil }
            t.physicalsize = store.physicalSize
            switch store.state {
            case .downloaded: t.status = "Download Complete"
            case .inProgress: t.status = store.installing ? "Installing Template" : "\(store.percent)% Downloaded"
            case .error: t.status = store.errorText ?? "Failed to download template"
            case .notDownloaded: t.status = "Processing"
            }
            var detail = DownloadDetail()
            detail.downloadState = store.state.rawValue
            detail.datastore = "\(zone.zone.name!)-secondary"
            detail.downloadPercent = String(store.percent)
            t.downloaddetails = [detail]
        } else {
            t.isready = false
        }
        t.checksum = record.registeredChecksum.map(Self.checksumHex)
        t.tags = tags[id] ?? []
        return encodeModel(t)
    }

    /// `{SHA-256}abc` → `abc` (listTemplates shows the bare value).
    static func checksumHex(_ checksum: String) -> String {
        guard checksum.hasPrefix("{"), let close = checksum.firstIndex(of: "}") else { return checksum }
        return String(checksum[checksum.index(after: close)...])
    }

    mutating func registerTemplate(_ ctx: CommandContext) throws -> Reply {
        let name = try ctx.required("name")
        let url = try ctx.required("url")
        let format = try ctx.required("format")
        let hypervisorParam = try ctx.required("hypervisor")
        let displayText = ctx.optional("displaytext") ?? name
        guard let scheme = URLComponents(string: url)?.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw APIError.param("Unsupported scheme for url: \(url)")
        }
        guard let imageFormat = Self.imageFormats.first(where: { $0 == format.uppercased() }) else {
            throw APIError.param("Image format: \(format) is incorrect. Supported formats are \(Self.imageFormats.joined(separator: ", "))")
        }
        guard let hypervisor = Self.hypervisors.first(where: { $0.lowercased() == hypervisorParam.lowercased() }) else {
            throw APIError.param(
                "Hypervisor Type: \(hypervisorParam) is invalid. Supported Hypervisor types are \(Self.hypervisors.joined(separator: ", "))")
        }
        let zoneIDParam = ctx.optional("zoneid")
        let zoneIDs = ctx.list("zoneids")
        if zoneIDParam != nil, !zoneIDs.isEmpty { throw APIError.param("Both zoneid and zoneids cannot be specified at the same time") }
        if zoneIDParam == nil, zoneIDs.isEmpty { throw APIError.param("Either zoneid or zoneids is required. Both cannot be null.") }
        if zoneIDs.count > 1, zoneIDs.contains("-1") {
            throw APIError.param("Parameter zoneids cannot combine all zones (-1) option with other zones")
        }
        let requested = zoneIDParam.map { [$0] } ?? zoneIDs
        let targetZones: [String]
        if requested == ["-1"] {
            targetZones = zones.map { $0.zone.id! }
        } else {
            for id in requested where zoneIndex(id) == nil {
                throw APIError.unknownEntity(ctx.command, zoneIDParam != nil ? "zoneid" : "zoneids", id)
            }
            targetZones = requested
        }
        guard let osTypeID = ctx.optional("ostypeid") else { throw APIError.param("Please provide a guest OS type") }
        guard let os = osTypes.first(where: { $0.id == osTypeID }) else { throw APIError.unknownEntity(ctx.command, "ostypeid", osTypeID) }
        let checksum = ctx.optional("checksum")
        if let checksum, checksum.hasPrefix("{") {
            guard let close = checksum.firstIndex(of: "}"),
                Self.checksumAlgorithms.contains(String(checksum[checksum.index(after: checksum.startIndex)..<close]))
            else { throw APIError.param("Checksum algorithm in \(checksum) is not a valid Java algorithm name; use MD5, SHA-1, SHA-256 or SHA-512") }
        }
        if ctx.bool("directdownload") == true, hypervisor != "KVM" {
            throw APIError.param("Parameter directdownload is only allowed for KVM or Custom templates")
        }

        var t = newTemplate(
            name: name, displayText: displayText, format: imageFormat, hypervisor: hypervisor, os: os, accountName: ctx.caller.user.account,
            accountID: ctx.callerAccountID, type: "USER", now: ctx.now)
        t.ispublic = ctx.bool("ispublic") ?? true
        t.passwordenabled = ctx.bool("passwordenabled") ?? false
        t.isfeatured = ctx.bool("isfeatured") ?? false
        t.crossZones = requested == ["-1"]
        t.isextractable = ctx.bool("isextractable") ?? false
        t.details = Dictionary(ctx.map("details").flatMap { $0.fields.map { ($0.key, $0.value) } }, uniquingKeysWith: { $1 })
        t.bits = try ctx.int("bits") ?? 64
        t.sshkeyenabled = ctx.bool("sshkeyenabled") ?? false
        t.isdynamicallyscalable = ctx.bool("isdynamicallyscalable") ?? false
        t.directdownload = ctx.bool("directdownload") ?? false
        t.requireshvm = ctx.bool("requireshvm") ?? true
        t.url = url
        t.templatetag = ctx.optional("templatetag")
        var stores: [String: TemplateStoreRecord] = [:]
        for z in targetZones { stores[z] = TemplateStoreRecord(state: .inProgress, percent: 0) }
        let id = t.id!
        templates[id] = TemplateRecord(
            template: t, accountID: ctx.callerAccountID, registeredChecksum: checksum, stores: stores, zoneOrder: targetZones)
        templateOrder.append(id)
        downloadQueue.append(DownloadRequest(templateID: id, url: url, checksum: checksum, format: imageFormat))
        let rows = targetZones.map { templateView(id: id, zoneID: $0) }
        return .list("template", rows, count: rows.count)
    }

    func templateVisible(_ record: TemplateRecord, filter: String, ctx: CommandContext) -> Bool {
        let owned = record.accountID == ctx.callerAccountID
        let ready = record.stores.values.contains { $0.state == .downloaded }
        switch filter {
        case "featured": return record.template.ispublic == true && record.template.isfeatured == true
        case "self": return owned
        case "selfexecutable": return owned && ready
        case "sharedexecutable": return false
        case "executable": return (owned || record.template.ispublic == true) && ready
        case "community": return record.template.ispublic == true && record.template.isfeatured != true
        case "all": return true
        default: return false
        }
    }

    func listTemplates(_ ctx: CommandContext) throws -> Reply {
        let filter = try ctx.required("templatefilter")
        let filters = ["featured", "self", "selfexecutable", "sharedexecutable", "executable", "community", "all"]
        guard filters.contains(filter) else { throw APIError.invalidValue(ctx.command, "templatefilter", filter) }
        if filter == "all", !ctx.isAdmin {
            throw APIError(errorCode: 531, csErrorCode: 4365, text: "Only ROOT admins are allowed to list all templates")
        }
        let id = ctx.optional("id")
        let ids = Set(ctx.list("ids"))
        let name = ctx.optional("name")
        let zoneID = ctx.optional("zoneid")
        let hypervisor = ctx.optional("hypervisor")?.lowercased()
        let wantedTags = ctx.tags()
        var rows: [(String, String)] = []
        for tid in templateOrder {
            guard let record = templates[tid], !record.removed else { continue }
            if let id, tid != id { continue }
            if !ids.isEmpty, !ids.contains(tid) { continue }
            if let name, record.template.name != name { continue }
            if let hypervisor, record.template.hypervisor?.lowercased() != hypervisor { continue }
            guard ctx.matchesKeyword(record.template.name, record.template.displaytext) else { continue }
            guard templateVisible(record, filter: filter, ctx: ctx) else { continue }
            guard (tags[tid] ?? []).includesAll(wantedTags) else { continue }
            for z in record.zoneOrder where zoneID == nil || z == zoneID {
                guard record.stores[z] != nil else { continue }
                rows.append((tid, z))
            }
        }
        return try ctx.page(rows, objectName: "template") { templateView(id: $0.0, zoneID: $0.1) }
    }

    mutating func updateTemplate(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.required("id")
        guard var record = templates[id], !record.removed else { throw APIError.unknownEntity(ctx.command, "id", id) }
        try checkOwner(record.accountID, ctx)
        if let name = ctx.optional("name") { record.template.name = name }
        if let text = ctx.optional("displaytext") { record.template.displaytext = text }
        if let os = ctx.optional("ostypeid") {
            guard let type = osTypes.first(where: { $0.id == os }) else { throw APIError.unknownEntity(ctx.command, "ostypeid", os) }
            record.template.ostypeid = type.id
            record.template.ostypename = type.description
        }
        if let v = ctx.bool("passwordenabled") { record.template.passwordenabled = v }
        if let v = ctx.bool("isdynamicallyscalable") { record.template.isdynamicallyscalable = v }
        if let v = ctx.bool("requireshvm") { record.template.requireshvm = v }
        if let v = ctx.bool("sshkeyenabled") { record.template.sshkeyenabled = v }
        if let v = ctx.optional("templatetag") { record.template.templatetag = v }
        templates[id] = record
        return .object("template", templateView(id: id, zoneID: record.zoneOrder.first))
    }

    mutating func updateTemplatePermissions(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.required("id")
        guard var record = templates[id], !record.removed else { throw APIError.unknownEntity(ctx.command, "id", id) }
        try checkOwner(record.accountID, ctx)
        if let v = ctx.bool("isfeatured") {
            if v, !ctx.isAdmin { throw APIError(errorCode: 531, csErrorCode: 4365, text: "Only admins can feature templates") }
            record.template.isfeatured = v
        }
        if let v = ctx.bool("ispublic") { record.template.ispublic = v }
        if let v = ctx.bool("isextractable") { record.template.isextractable = v }
        templates[id] = record
        return .success
    }

    mutating func deleteTemplate(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.required("id")
        guard let record = templates[id], !record.removed else { throw APIError.unknownEntity(ctx.command, "id", id) }
        try checkOwner(record.accountID, ctx)
        let zoneID = ctx.optional("zoneid")
        if let zoneID, record.stores[zoneID] == nil { throw APIError.param("Template \(id) is not available in zone \(zoneID)") }
        if ctx.bool("forced") != true {
            let users = vms.values.filter { $0.vm.templateid == id && $0.vm.state != "Expunging" && (zoneID == nil || $0.vm.zoneid == zoneID) }
            if let vm = users.first {
                throw APIError(
                    errorCode: 536, csErrorCode: 4375,
                    text:
                        "Unable to delete template with id: \(id) because VM instances: [\(vm.vm.instancename ?? "")] are using it.  Use option forced to delete template."
                )
            }
        }
        return submitJob(
            ctx, action: .deleteTemplate(id: id, zoneID: zoneID), cmdClass: Self.commandClass("template", "DeleteTemplate", admin: false),
            instanceType: "Template", instanceID: id)
    }

    mutating func completeDeleteTemplate(id: String, zoneID: String?) throws -> JSONValue {
        guard var record = templates[id] else { throw APIError.internalError("Failed to delete template") }
        if let zoneID {
            record.stores[zoneID] = nil
            record.zoneOrder.removeAll { $0 == zoneID }
        } else {
            record.stores = [:]
            record.zoneOrder = []
        }
        if record.stores.isEmpty {
            record.removed = true
            record.template.removed = Timestamp(Date())
            // A template made from an unchanged volume shares its source's file: that stays while anyone uses it.
            if let path = record.filePath, !templates.contains(where: { $0.key != id && !$0.value.removed && $0.value.filePath == path }) {
                deletedFiles.append(path)
            }
            tags[id] = nil
        }
        templates[id] = record
        return .object([("success", .bool(true))])
    }

    mutating func createTemplate(_ ctx: CommandContext) throws -> Reply {
        let name = try ctx.required("name")
        let displayText = ctx.optional("displaytext") ?? name
        let osTypeID = try ctx.required("ostypeid")
        guard let os = osTypes.first(where: { $0.id == osTypeID }) else { throw APIError.unknownEntity(ctx.command, "ostypeid", osTypeID) }
        guard let volumeID = ctx.optional("volumeid") else {
            if ctx.optional("snapshotid") != nil {
                throw APIError.param("Snapshots are not kept by this installation; create the template from a volume")
            }
            throw APIError.param("Failed to create private template record, please specify only one of volume ID (null) and snapshot ID (null)")
        }
        guard let volume = volumes[volumeID] else { throw APIError.unknownEntity(ctx.command, "volumeid", volumeID) }
        guard let vmID = volume.virtualmachineid, let vm = vms[vmID] else { throw APIError.param("Volume \(volumeID) is not attached to a VM") }
        try checkOwner(vm.accountID, ctx)
        guard vm.vm.state == "Stopped" else {
            throw APIError.param("VM \(vm.vm.instancename ?? vmID) is not in Stopped state; stop it before creating a template from its volume")
        }
        let source = vm.vm.templateid.flatMap { templates[$0] }
        var t = newTemplate(
            name: name, displayText: displayText, format: source?.template.format ?? "QCOW2", hypervisor: volume.hypervisor, os: os,
            accountName: ctx.caller.user.account, accountID: ctx.callerAccountID, type: "USER", now: ctx.now)
        t.ispublic = ctx.bool("ispublic") ?? false
        t.passwordenabled = ctx.bool("passwordenabled") ?? false
        t.isfeatured = ctx.bool("isfeatured") ?? false
        t.sourcetemplateid = source?.template.id
        let zoneID = volume.zoneid!
        let store = TemplateStoreRecord(
            state: .downloaded, percent: 100, size: volume.size, physicalSize: source?.stores[zoneID]?.physicalSize ?? volume.size)
        let id = t.id!
        templates[id] = TemplateRecord(
            template: t, accountID: ctx.callerAccountID, registeredChecksum: nil, stores: [zoneID: store], zoneOrder: [zoneID],
            filePath: source?.filePath)
        templateOrder.append(id)
        if let userData = provisionedVolumes?[volumeID] {
            // The guest changed its disk: the template holds an image of its own, written before the job completes.
            pendingImages = pendingImages ?? [:]
            pendingImages![id] = PendingImage(base: source?.filePath, userData: userData)
            templates[id]?.filePath = nil
        }
        // The new template is listed only once the job completes.
        templates[id]?.stores[zoneID]?.state = .inProgress
        return submitJob(
            ctx, action: .createTemplate(id: id), cmdClass: Self.commandClass("template", "CreateTemplate", admin: ctx.isAdmin),
            instanceType: "Template", instanceID: id, createStyle: true)
    }

    mutating func extractTemplate(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.required("id")
        let mode = try ctx.required("mode")
        guard mode == "HTTP_DOWNLOAD" || mode == "FTP_UPLOAD" else {
            throw APIError.param("Please specify a valid extract Mode. Supported modes: HTTP_DOWNLOAD, FTP_UPLOAD")
        }
        if mode == "FTP_UPLOAD" { throw APIError(errorCode: 530, csErrorCode: 4250, text: "FTP_UPLOAD is not supported by this installation") }
        guard let record = templates[id], !record.removed else { throw APIError.unknownEntity(ctx.command, "id", id) }
        try checkOwner(record.accountID, ctx)
        if !ctx.isAdmin, record.template.isextractable != true {
            throw APIError.param("Unable to extract template id=\(id) as it's not extractable")
        }
        let zoneID = ctx.optional("zoneid") ?? record.zoneOrder.first { record.stores[$0]?.state == .downloaded } ?? ""
        guard record.stores[zoneID]?.state == .downloaded else {
            throw APIError.param("The template \(id) is not ready in zone \(zoneID), so it cannot be extracted")
        }
        return submitJob(
            ctx, action: .extractTemplate(id: id, zoneID: zoneID), cmdClass: Self.commandClass("template", "ExtractTemplate", admin: false),
            instanceType: "Template", instanceID: id)
    }

    mutating func completeExtract(id: String, zoneID: String, now: Date) -> JSONValue {
        let token = Self.newID()
        extractions[token] = id
        let record = templates[id]
        var e = ExtractedTemplate()
        e.id = id
        e.name = record?.template.name
        e.extractId = Self.newID()
        e.accountid = record?.accountID
        e.state = "DOWNLOAD_URL_CREATED"
        e.zoneid = zoneID
        e.zonename = zones.first { $0.zone.id == zoneID }?.zone.name
        e.extractMode = "HTTP_DOWNLOAD"
        e.url = "\(baseURL)/userdata/\(token).\((record?.template.format ?? "qcow2").lowercased())"
        e.status = "DOWNLOAD_URL_CREATED"
        e.uploadpercentage = 0
        e.created = Timestamp(now)
        return .object([("template", encodeModel(e))])
    }

    func checkOwner(_ accountID: String, _ ctx: CommandContext) throws {
        guard ctx.isAdmin || accountID == ctx.callerAccountID else {
            throw APIError(
                errorCode: 531, csErrorCode: 4365,
                text: "Account \(ctx.caller.user.account ?? "") does not have permission to operate on this resource")
        }
    }

    // MARK: Secondary-storage download progress

    mutating func updateDownload(templateID: String, percent: Int) {
        guard var record = templates[templateID] else { return }
        for z in record.zoneOrder where record.stores[z]?.state == .inProgress {
            record.stores[z]?.percent = min(100, percent)
            record.stores[z]?.installing = percent >= 100
        }
        templates[templateID] = record
    }

    mutating func finishDownload(templateID: String, size: Int64, physicalSize: Int64, path: String) {
        guard var record = templates[templateID] else { return }
        record.filePath = path
        for z in record.zoneOrder where record.stores[z]?.state == .inProgress {
            record.stores[z] = TemplateStoreRecord(state: .downloaded, percent: 100, size: size, physicalSize: physicalSize)
        }
        templates[templateID] = record
        if record.removed { deletedFiles.append(path) }
    }

    mutating func failDownload(templateID: String, errorText: String) {
        guard var record = templates[templateID] else { return }
        for z in record.zoneOrder where record.stores[z]?.state == .inProgress {
            record.stores[z]?.state = .error
            record.stores[z]?.errorText = errorText
        }
        templates[templateID] = record
    }
}
