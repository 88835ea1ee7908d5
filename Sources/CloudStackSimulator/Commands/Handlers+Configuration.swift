import CloudStack
import Core
import Foundation

/// The settings the simulator knows (`listConfigurations` / `updateConfiguration`), as CloudStack 4.18 has them:
/// the source-CIDR lock of API keys (`api.allowed.source.cidr.list`, global and per account, enforced on every
/// request when `api.source.cidr.checks.enabled`).
struct SettingDefinition: Sendable {
    var name: String
    var category: String
    var defaultValue: String
    var description: String
    /// Whether an account may have its own value.
    var accountScope: Bool
    var type: String

    static let all: [SettingDefinition] = [
        SettingDefinition(
            name: "api.allowed.source.cidr.list", category: "Advanced", defaultValue: "0.0.0.0/0,::/0",
            description: "Comma separated list of IPv4/IPv6 CIDRs from which API calls can be performed. Can be set on Global and Account levels.",
            accountScope: true, type: "String"),
        SettingDefinition(
            name: "api.source.cidr.checks.enabled", category: "Advanced", defaultValue: "true",
            description: "Are the source checks on API calls enabled (true) or not (false)? See api.allowed.source.cidr.list", accountScope: false,
            type: "Boolean"),
    ]

    static func named(_ name: String) -> SettingDefinition? { all.first { $0.name == name } }
}

extension World {
    /// A setting's value for an account (its own, else the global one, else the default).
    func setting(_ name: String, account: String?) -> String {
        if let account, let own = accountSettings?[account]?[name] { return own }
        return globalSettings?[name] ?? SettingDefinition.named(name)?.defaultValue ?? ""
    }

    /// Whether `source` may call the API with keys of `account` (CloudStack's ApiServer origin check).
    func admits(source: String?, account: String?) -> Bool {
        guard setting("api.source.cidr.checks.enabled", account: nil).lowercased() == "true" else { return true }
        guard let source else { return false }
        let networks = setting("api.allowed.source.cidr.list", account: account).replacingOccurrences(of: " ", with: "").split(separator: ",")
        return networks.contains { CIDR(String($0))?.contains(source) ?? false }
    }

    func configurationView(_ definition: SettingDefinition, account: String?) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("category", .string(definition.category)), ("name", .string(definition.name)),
            ("value", .string(setting(definition.name, account: account))), ("defaultvalue", .string(definition.defaultValue)),
            ("description", .string(definition.description)), ("type", .string(definition.type)), ("isdynamic", .bool(true)),
        ]
        if let account {
            fields.append(("scope", .string("account")))
            fields.append(("id", .string(account)))
        }
        return .object(fields)
    }

    func listConfigurations(_ ctx: CommandContext) throws -> Reply {
        let account = try scopeAccount(ctx)
        let name = ctx.optional("name")
        let rows = SettingDefinition.all.filter { definition in
            (name == nil || definition.name == name) && (account == nil || definition.accountScope) && ctx.matchesKeyword(definition.name)
                && (ctx.optional("category").map { $0 == definition.category } ?? true)
        }
        return try ctx.page(rows, objectName: "configuration") { configurationView($0, account: account) }
    }

    mutating func updateConfiguration(_ ctx: CommandContext) throws -> Reply {
        let name = try ctx.required("name")
        guard let definition = SettingDefinition.named(name) else {
            throw APIError.param("Config parameter with name \(name) doesn't exist")
        }
        let account = try scopeAccount(ctx)
        if account != nil && !definition.accountScope {
            throw APIError.param("Invalid scope id provided for the parameter \(name)")
        }
        let value = ctx.optional("value") ?? ""
        if definition.type == "Boolean", !["true", "false"].contains(value.lowercased()) {
            throw APIError.param("Please enter either 'true' or 'false'.")
        }
        if name == "api.allowed.source.cidr.list" {
            for cidr in value.replacingOccurrences(of: " ", with: "").split(separator: ",") where CIDR(String(cidr)) == nil {
                throw APIError.param("Invalid CIDR \(cidr) in \(name)")
            }
        }
        if let account {
            var all = accountSettings ?? [:]
            all[account, default: [:]][name] = value
            accountSettings = all
        } else {
            var all = globalSettings ?? [:]
            all[name] = value
            globalSettings = all
        }
        return .object("configuration", configurationView(definition, account: account))
    }

    private func scopeAccount(_ ctx: CommandContext) throws -> String? {
        guard let account = ctx.optional("accountid") else { return nil }
        guard accounts[account] != nil else { throw APIError.unknownEntity(ctx.command, "accountid", account) }
        return account
    }
}
