import Core
import Foundation
import TemplateRepository
import Yams

extension Recipe {
    /// The keys a recipe may have at its top level.
    static let topKeys = [
        "name", "description", "os", "base", "packages", "packageManager", "files", "scripts", "cloudInit", "powershell", "build", "output",
        "version", "metadata", "software", "checks", "schedule",
    ]

    /// Parses and validates a recipe.
    /// - Parameters:
    ///   - text: the recipe's YAML.
    ///   - file: the name errors give for it.
    /// - Throws: ``BuilderError`` `invalidRecipe` naming the line and field of the first problem.
    public static func parse(_ text: String, file: String = "recipe") throws -> Recipe {
        let reader = RecipeReader(file: file)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw reader.error(nil, "recipe", "the recipe is empty") }
            root = node
        } catch let error as BuilderError {
            throw error
        } catch {
            throw BuilderError.invalidRecipe(file: file, line: Self.line(of: error), field: "recipe", "not YAML: \(error)")
        }
        let top = try reader.mapping(root, "recipe", keys: topKeys)
        let name = try reader.string(top, "name")
        guard TemplateName.isValid(name) else {
            throw reader.error(top["name"], "name", "must be 1–128 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        let os = try reader.choice(top, "os", OSFamily.self)
        let base = try reader.base(top["base"])
        let packages = try reader.names(top, "packages", kind: "package")
        let packageManager =
            try reader.optionalString(top, "packageManager").map { _ in try reader.choice(top, "packageManager", PackageManager.self) } ?? .chocolatey
        if os == .linux, top["packageManager"] != nil {
            throw reader.error(top["packageManager"], "packageManager", "is for Windows recipes (Linux packages install through cloud-init)")
        }
        let files = try reader.files(top["files"], os: os)
        let scripts = try reader.scripts(top["scripts"])
        var cloudInit: String?
        if let node = top["cloudInit"] {
            guard os == .linux else { throw reader.error(node, "cloudInit", "is for Linux recipes; Windows recipes use powershell") }
            guard case .mapping(let mapping) = node else { throw reader.error(node, "cloudInit", "must be a mapping of cloud-config keys") }
            let owned = ["power_state", "phone_home"]
            if let key = mapping.keys.first(where: { owned.contains($0.string ?? "") }) {
                throw reader.error(key, "cloudInit.\(key.string ?? "")", "is set by the builder (it powers the VM off after reporting)")
            }
            cloudInit = try Yams.serialize(node: node)
        }
        var powershell: String?
        if let node = top["powershell"] {
            guard os == .windows else { throw reader.error(node, "powershell", "is for Windows recipes; Linux recipes use cloudInit") }
            powershell = try reader.string(top, "powershell")
        }
        let build = try reader.build(top["build"])
        let output = try reader.output(top["output"])
        let metadata = try reader.stringMap(top["metadata"], "metadata")
        let version = try reader.versionRule(top["version"], metadata: metadata)
        let software = try reader.optionalSequence(top["software"], "software").map { try reader.scalar($0, "software[]") }
        let checks = try reader.checks(top["checks"])
        let schedule = try reader.schedule(top["schedule"])
        return Recipe(
            name: name, description: try reader.optionalString(top, "description") ?? "", os: os, base: base, packages: packages,
            packageManager: packageManager, files: files, scripts: scripts, cloudInit: cloudInit, powershell: powershell, build: build,
            output: output,
            version: version, metadata: metadata, software: software, checks: checks, schedule: schedule, text: text)
    }

    private static func line(of error: any Error) -> Int? {
        if case YamlError.scanner(_, _, let mark, _) = error { return mark.line }
        if case YamlError.parser(_, _, let mark, _) = error { return mark.line }
        return nil
    }
}

/// Reads recipe nodes, each error naming the file, line and field.
struct RecipeReader {
    let file: String

    func error(_ node: Node?, _ field: String, _ reason: String) -> BuilderError {
        BuilderError.invalidRecipe(file: file, line: node?.mark?.line, field: field, reason)
    }

    /// A mapping whose keys are all among `keys`.
    func mapping(_ node: Node?, _ field: String, keys: [String]) throws -> Node.Mapping {
        guard let node, case .mapping(let mapping) = node else { throw error(node, field, "must be a mapping") }
        for key in mapping.keys {
            let name = key.string ?? ""
            guard keys.contains(name) else {
                let prefix = field == "recipe" ? "" : "\(field)."
                throw error(
                    key, prefix + name,
                    "is not a recipe field\(Suggestion.didYouMean(name, among: keys)); the fields are \(keys.joined(separator: ", "))")
            }
        }
        return mapping
    }

    func scalar(_ node: Node, _ field: String) throws -> String {
        guard case .scalar(let scalar) = node else { throw error(node, field, "must be a single value, not a list or mapping") }
        return scalar.string
    }

    func string(_ mapping: Node.Mapping, _ key: String, in parent: String? = nil) throws -> String {
        let field = parent.map { "\($0).\(key)" } ?? key
        guard let node = mapping[key] else { throw error(Node.mapping(mapping), field, "is required") }
        let value = try scalar(node, field)
        guard !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw error(node, field, "must not be empty") }
        return value
    }

    func optionalString(_ mapping: Node.Mapping, _ key: String, in parent: String? = nil) throws -> String? {
        guard mapping[key] != nil else { return nil }
        return try string(mapping, key, in: parent)
    }

    func int(_ mapping: Node.Mapping, _ key: String, in parent: String, range: ClosedRange<Int>) throws -> Int? {
        guard let node = mapping[key] else { return nil }
        guard let value = Int(try scalar(node, "\(parent).\(key)")), range.contains(value) else {
            throw error(node, "\(parent).\(key)", "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func choice<T: RawRepresentable & CaseIterable>(_ mapping: Node.Mapping, _ key: String, _ type: T.Type, in parent: String? = nil) throws -> T
    where T.RawValue == String {
        let field = parent.map { "\($0).\(key)" } ?? key
        let value = try string(mapping, key, in: parent)
        guard let choice = T(rawValue: value) else {
            throw error(mapping[key], field, "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not \(value)")
        }
        return choice
    }

    func optionalSequence(_ node: Node?, _ field: String) throws -> [Node] {
        guard let node else { return [] }
        guard case .sequence(let sequence) = node else { throw error(node, field, "must be a list") }
        return Array(sequence)
    }

    /// Package names: letters, digits and `.+_:-`, starting with a letter or digit (nothing a shell would read).
    func names(_ mapping: Node.Mapping, _ key: String, kind: String) throws -> [String] {
        var seen = Set<String>()
        return try optionalSequence(mapping[key], key).enumerated().map { index, node in
            let value = try scalar(node, "\(key)[\(index)]")
            let valid =
                value.first.map { $0.isASCII && ($0.isLetter || $0.isNumber) } == true
                && value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".+_:-".contains($0)) } && value.count <= 128
            guard valid else {
                throw error(node, "\(key)[\(index)]", "\(value) is not a \(kind) name (letters, digits, '.', '+', '_', ':' and '-')")
            }
            guard seen.insert(value).inserted else { throw error(node, "\(key)[\(index)]", "\(value) is listed twice") }
            return value
        }
    }

    func base(_ node: Node?) throws -> Recipe.Base {
        guard let node else { throw error(nil, "base", "is required: a repository template (template: NAME) or a CloudStack one (cloudstack: NAME)") }
        let mapping = try mapping(node, "base", keys: ["template", "version", "cloudstack"])
        switch (mapping["template"], mapping["cloudstack"]) {
        case (.some, .none):
            let name = try string(mapping, "template", in: "base")
            guard TemplateName.isValid(name) else { throw error(mapping["template"], "base.template", "\(name) is not a template name") }
            let version = try optionalString(mapping, "version", in: "base")
            if let version, !TemplateName.isValid(version) { throw error(mapping["version"], "base.version", "\(version) is not a version") }
            return .repository(name: name, version: version)
        case (.none, .some):
            if mapping["version"] != nil { throw error(mapping["version"], "base.version", "goes with base.template, not base.cloudstack") }
            return .cloudStack(name: try string(mapping, "cloudstack", in: "base"))
        default:
            throw error(node, "base", "needs exactly one of template (a repository template) and cloudstack (a CloudStack template's name)")
        }
    }

    func files(_ node: Node?, os: Recipe.OSFamily) throws -> [Recipe.File] {
        try optionalSequence(node, "files").enumerated().map { index, node in
            let field = "files[\(index)]"
            let mapping = try mapping(node, field, keys: ["path", "content", "permissions"])
            let path = try string(mapping, "path", in: field)
            let absolute =
                os == .linux
                ? path.hasPrefix("/")
                : (path.count > 3 && path.dropFirst().hasPrefix(":\\") && path.first!.isLetter)
            guard absolute, !path.split(whereSeparator: { $0 == "/" || $0 == "\\" }).contains(".."), !path.contains("'"), !path.contains("\n")
            else {
                throw error(
                    mapping["path"], "\(field).path",
                    "\(path) must be an absolute \(os == .linux ? "path (/etc/…)" : "Windows path (C:\\…)") without '..' or quotes")
            }
            let content = try mapping["content"].map { try scalar($0, "\(field).content") } ?? ""
            let permissions = try optionalString(mapping, "permissions", in: field)
            if let permissions {
                guard os == .linux else { throw error(mapping["permissions"], "\(field).permissions", "applies to Linux files only") }
                guard (3...4).contains(permissions.count), permissions.allSatisfy({ ("0"..."7").contains($0) }) else {
                    throw error(mapping["permissions"], "\(field).permissions", "must be an octal mode such as 0644")
                }
            }
            return Recipe.File(path: path, content: content, permissions: permissions)
        }
    }

    func scripts(_ node: Node?) throws -> [Recipe.Script] {
        var seen = Set<String>()
        return try optionalSequence(node, "scripts").enumerated().map { index, node in
            let field = "scripts[\(index)]"
            let mapping = try mapping(node, field, keys: ["name", "run"])
            let name = try identifier(mapping, field)
            guard seen.insert(name).inserted else { throw error(mapping["name"], "\(field).name", "\(name) is used by another script") }
            return Recipe.Script(name: name, run: try string(mapping, "run", in: field))
        }
    }

    func checks(_ node: Node?) throws -> [Recipe.Check] {
        var seen = Set<String>()
        return try optionalSequence(node, "checks").enumerated().map { index, node in
            let field = "checks[\(index)]"
            let mapping = try mapping(node, field, keys: ["name", "run"])
            let name = try identifier(mapping, field)
            guard seen.insert(name).inserted else { throw error(mapping["name"], "\(field).name", "\(name) is used by another check") }
            return Recipe.Check(name: name, command: try string(mapping, "run", in: field))
        }
    }

    private func identifier(_ mapping: Node.Mapping, _ field: String) throws -> String {
        let name = try string(mapping, "name", in: field)
        guard name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw error(mapping["name"], "\(field).name", "\(name) must be up to 64 letters, digits, '-', '_' or '.'")
        }
        return name
    }

    func build(_ node: Node?) throws -> Recipe.Build {
        guard let node else { throw error(nil, "build", "is required (at least build.offering, the service offering to build on)") }
        let mapping = try mapping(node, "build", keys: ["offering", "diskGiB", "timeoutMinutes", "zone"])
        return Recipe.Build(
            offering: try string(mapping, "offering", in: "build"), diskGiB: try int(mapping, "diskGiB", in: "build", range: 1...4096),
            timeoutMinutes: try int(mapping, "timeoutMinutes", in: "build", range: 1...1440) ?? 60,
            zone: try optionalString(mapping, "zone", in: "build"))
    }

    func output(_ node: Node?) throws -> Recipe.Output {
        guard let node else { throw error(nil, "output", "is required (at least output.osType, the CloudStack OS type)") }
        let mapping = try mapping(
            node, "output", keys: ["osType", "hypervisor", "format", "displayText", "minimumCPUs", "minimumMemoryMB"])
        let hypervisor = try mapping["hypervisor"].map { _ in try choice(mapping, "hypervisor", Hypervisor.self, in: "output") } ?? .kvm
        let format = try mapping["format"].map { _ in try choice(mapping, "format", ImageFormat.self, in: "output") } ?? .qcow2
        return Recipe.Output(
            osType: try string(mapping, "osType", in: "output"), hypervisor: hypervisor, format: format,
            displayText: try optionalString(mapping, "displayText", in: "output"),
            minimumCPUs: try int(mapping, "minimumCPUs", in: "output", range: 1...256),
            minimumMemoryMB: try int(mapping, "minimumMemoryMB", in: "output", range: 1...4_194_304))
    }

    func stringMap(_ node: Node?, _ field: String) throws -> [String: String] {
        guard let node else { return [:] }
        guard case .mapping(let mapping) = node else { throw error(node, field, "must be a mapping of names to values") }
        var result: [String: String] = [:]
        for (key, value) in mapping {
            let name = key.string ?? ""
            result[name] = try scalar(value, "\(field).\(name)")
        }
        return result
    }

    func versionRule(_ node: Node?, metadata: [String: String]) throws -> VersionRule {
        guard let node else { return .date }
        if case .scalar(let scalar) = node {
            switch scalar.string {
            case "date": return .date
            case "counter": return .counter
            default: break
            }
        } else if case .mapping(let mapping) = node {
            _ = try self.mapping(node, "version", keys: ["field"])
            let name = try string(mapping, "field", in: "version")
            guard metadata[name] != nil else { throw error(mapping["field"], "version.field", "names metadata.\(name), which the recipe lacks") }
            return .field(name)
        }
        throw error(node, "version", "must be date, counter or {field: NAME} (a metadata field)")
    }

    func schedule(_ node: Node?) throws -> RebuildSchedule? {
        guard let node else { return nil }
        if case .scalar(let scalar) = node {
            guard let period = RebuildSchedule.Period(rawValue: scalar.string) else {
                throw error(node, "schedule", "must be daily, weekly or monthly, or {every, day, at}")
            }
            return RebuildSchedule(every: period)
        }
        let mapping = try mapping(node, "schedule", keys: ["every", "day", "at"])
        let period = try choice(mapping, "every", RebuildSchedule.Period.self, in: "schedule")
        let dayRange = period == .weekly ? 1...7 : 1...28
        let day = try int(mapping, "day", in: "schedule", range: dayRange) ?? 1
        if period == .daily, mapping["day"] != nil { throw error(mapping["day"], "schedule.day", "does not apply to a daily schedule") }
        var minute = 3 * 60
        if let at = try optionalString(mapping, "at", in: "schedule") {
            let parts = at.split(separator: ":")
            guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) else {
                throw error(mapping["at"], "schedule.at", "must be a UTC time of day, HH:MM")
            }
            minute = h * 60 + m
        }
        return RebuildSchedule(every: period, day: day, minute: minute)
    }
}
