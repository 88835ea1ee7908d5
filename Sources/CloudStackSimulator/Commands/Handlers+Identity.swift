import CloudStack
import Core
import Foundation

extension World {
    func accountView(_ id: String) -> JSONValue {
        guard let record = accounts[id] else { return .object([]) }
        var a = record.account
        let owned = vms.values.filter { $0.accountID == id && $0.vm.state != "Expunging" }
        a.vmlimit = "Unlimited"
        a.vmtotal = Int64(owned.count)
        a.vmavailable = "Unlimited"
        a.cpulimit = "Unlimited"
        a.cputotal = owned.reduce(0) { $0 + Int64($1.vm.cpunumber ?? 0) }
        a.cpuavailable = "Unlimited"
        a.memorylimit = "Unlimited"
        a.memorytotal = owned.reduce(0) { $0 + Int64($1.vm.memory ?? 0) }
        a.memoryavailable = "Unlimited"
        a.user = record.userIDs.compactMap { users[$0]?.user }
        return encodeModel(a)
    }

    func listAccounts(_ ctx: CommandContext) throws -> Reply {
        let id = ctx.optional("id")
        let name = ctx.optional("name")
        let rows = accountOrder.filter { aid in
            guard let a = accounts[aid] else { return false }
            if !ctx.isAdmin, aid != ctx.callerAccountID { return false }
            return (id == nil || aid == id) && (name == nil || a.account.name == name) && ctx.matchesKeyword(a.account.name)
                && (ctx.optional("state") == nil || a.account.state == ctx.optional("state")?.lowercased())
        }
        return try ctx.page(rows, objectName: "account") { accountView($0) }
    }

    mutating func createAccount(_ ctx: CommandContext) throws -> Reply {
        guard ctx.isAdmin else { throw APIError(errorCode: 531, csErrorCode: 4365, text: "Only admins may create accounts") }
        let username = try ctx.required("username")
        _ = try ctx.required("password")
        let email = try ctx.required("email")
        let first = try ctx.required("firstname")
        let last = try ctx.required("lastname")
        let accountName = ctx.optional("account") ?? username
        let type = try ctx.int("accounttype") ?? 0
        guard [0, 1, 2].contains(type) else { throw APIError.invalidValue(ctx.command, "accounttype", String(type)) }
        if accounts.values.contains(where: { $0.account.name == accountName }) {
            throw APIError.param("The specified account: \(accountName) already exists", cs: 4250)
        }
        if users.values.contains(where: { $0.user.username == username }) {
            throw APIError.param("The user \(username) already exists in domain ROOT", cs: 4250)
        }
        let admin = type == 1
        var a = Account()
        a.id = ctx.optional("accountid") ?? Self.newID()
        a.name = accountName
        a.accounttype = type
        a.roleid = Self.roleID(admin: admin)
        a.rolename = admin ? "Root Admin" : (type == 2 ? "Domain Admin" : "User")
        a.roletype = admin ? "Admin" : (type == 2 ? "DomainAdmin" : "User")
        a.domainid = domainID
        a.domain = "ROOT"
        a.domainpath = "ROOT"
        a.state = "enabled"
        a.isdefault = false
        var u = User()
        u.id = ctx.optional("userid") ?? Self.newID()
        u.username = username
        u.firstname = first
        u.lastname = last
        u.email = email
        u.created = Timestamp(ctx.now)
        u.state = "enabled"
        u.account = accountName
        u.accounttype = type
        u.usersource = "native"
        u.roleid = a.roleid
        u.roletype = a.roletype
        u.rolename = a.rolename
        u.domainid = domainID
        u.domain = "ROOT"
        u.timezone = ctx.optional("timezone")
        u.accountid = a.id
        u.iscallerchilddomain = false
        u.isdefault = false
        accounts[a.id!] = AccountRecord(account: a, userIDs: [u.id!])
        accountOrder.append(a.id!)
        users[u.id!] = UserRecord(user: u, secretKey: nil)
        return .object("account", accountView(a.id!))
    }

    func listUsers(_ ctx: CommandContext) throws -> Reply {
        let id = ctx.optional("id")
        let username = ctx.optional("username")
        let account = ctx.optional("account")
        let rows = accountOrder.flatMap { accounts[$0]?.userIDs ?? [] }.compactMap { users[$0]?.user }.filter { u in
            if !ctx.isAdmin, u.accountid != ctx.callerAccountID { return false }
            return (id == nil || u.id == id) && (username == nil || u.username == username) && (account == nil || u.account == account)
                && ctx.matchesKeyword(u.username)
        }
        return try ctx.page(rows, objectName: "user") { encodeModel($0) }
    }

    mutating func registerUserKeys(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.required("id")
        guard var record = users[id] else { throw APIError.unknownEntity(ctx.command, "id", id) }
        guard ctx.isAdmin || id == ctx.caller.user.id else {
            throw APIError(
                errorCode: 531, csErrorCode: 4365,
                text: "Account \(ctx.caller.user.account ?? "") does not have permission to register keys for user \(id)")
        }
        if let old = record.user.apikey { userByAPIKey[old] = nil }
        let keys = UserKeys(apikey: Self.newKey(), secretkey: Self.newKey())
        record.user.apikey = keys.apikey
        record.secretKey = keys.secretkey
        users[id] = record
        userByAPIKey[keys.apikey!] = id
        return .object("userkeys", encodeModel(keys))
    }

    func getUserKeys(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.required("id")
        guard let record = users[id] else { throw APIError.unknownEntity(ctx.command, "id", id) }
        guard ctx.isAdmin || id == ctx.caller.user.id else {
            throw APIError(
                errorCode: 531, csErrorCode: 4365, text: "Account \(ctx.caller.user.account ?? "") does not have permission to get keys of user \(id)"
            )
        }
        var keys = UserKeys()
        keys.apikey = record.user.apikey
        keys.secretkey = record.secretKey
        return .object("userkeys", encodeModel(keys))
    }

    // MARK: Regions

    func listRegions(_ ctx: CommandContext) throws -> Reply {
        let id = try ctx.int("id")
        let name = ctx.optional("name")
        let rows = regions.filter { (id == nil || $0.id == id) && (name == nil || $0.name == name) && ctx.matchesKeyword($0.name) }
        return try ctx.page(rows, objectName: "region") { encodeModel($0) }
    }

    mutating func addRegion(_ ctx: CommandContext) throws -> Reply {
        guard let id = try ctx.int("id") else { throw APIError.missing(ctx.command, "id") }
        let name = try ctx.required("name")
        let endpoint = try ctx.required("endpoint")
        if regions.contains(where: { $0.id == id }) { throw APIError.param("Region with id: \(id) already exists") }
        if regions.contains(where: { $0.name == name }) { throw APIError.param("Region with name: \(name) already exists") }
        var r = Region()
        r.id = id
        r.name = name
        r.endpoint = endpoint
        r.gslbserviceenabled = true
        r.portableipserviceenabled = false
        regions.append(r)
        return .object("region", encodeModel(r))
    }

    mutating func updateRegion(_ ctx: CommandContext) throws -> Reply {
        guard let id = try ctx.int("id") else { throw APIError.missing(ctx.command, "id") }
        guard let index = regions.firstIndex(where: { $0.id == id }) else { throw APIError.param("Region with id: \(id) does not exist") }
        if let name = ctx.optional("name") {
            if regions.contains(where: { $0.name == name && $0.id != id }) { throw APIError.param("Region with name: \(name) already exists") }
            regions[index].name = name
        }
        if let endpoint = ctx.optional("endpoint") { regions[index].endpoint = endpoint }
        return .object("region", encodeModel(regions[index]))
    }

    mutating func removeRegion(_ ctx: CommandContext) throws -> Reply {
        guard let id = try ctx.int("id") else { throw APIError.missing(ctx.command, "id") }
        guard let index = regions.firstIndex(where: { $0.id == id }) else { throw APIError.param("Failed to delete Region: \(id), Region not found") }
        regions.remove(at: index)
        return .success
    }
}
