import Core

/// An account (`listAccounts` → `account`, `createAccount` → `account`).
public struct Account: Codable, Sendable, Hashable {
    public var id: String?
    public var name: String?
    public var accounttype: Int?
    public var roleid: String?
    public var rolename: String?
    public var roletype: String?
    public var domainid: String?
    public var domain: String?
    public var domainpath: String?
    public var vmlimit: String?
    public var vmtotal: Int64?
    public var vmavailable: String?
    public var cpulimit: String?
    public var cputotal: Int64?
    public var cpuavailable: String?
    public var memorylimit: String?
    public var memorytotal: Int64?
    public var memoryavailable: String?
    public var state: String?
    public var isdefault: Bool?
    public var user: [User]?
    public init() {}
}

/// A user (`listUsers` → `user`).
public struct User: Codable, Sendable, Hashable {
    public var id: String?
    public var username: String?
    public var firstname: String?
    public var lastname: String?
    public var email: String?
    public var created: Timestamp?
    public var state: String?
    public var account: String?
    public var accounttype: Int?
    public var usersource: String?
    public var roleid: String?
    public var roletype: String?
    public var rolename: String?
    public var domainid: String?
    public var domain: String?
    public var timezone: String?
    public var apikey: String?
    public var secretkey: String?
    public var accountid: String?
    public var iscallerchilddomain: Bool?
    public var isdefault: Bool?
    public init() {}
}

/// An API key pair (`registerUserKeys`, `getUserKeys` → `userkeys`).
public struct UserKeys: Codable, Sendable, Hashable {
    public var apikey: String?
    public var secretkey: String?
    public init() {}

    /// A key pair with both halves.
    public init(apikey: String, secretkey: String) {
        self.apikey = apikey
        self.secretkey = secretkey
    }
}

/// The answer of `listCapabilities` (`capability`).
public struct Capabilities: Codable, Sendable, Hashable {
    public var securitygroupsenabled: Bool?
    public var dynamicrolesenabled: Bool?
    public var cloudstackversion: String?
    public var userpublictemplateenabled: Bool?
    public var supportELB: String?
    public var projectinviterequired: Bool?
    public var allowusercreateprojects: Bool?
    public var customdiskofferingminsize: Int64?
    public var customdiskofferingmaxsize: Int64?
    public var regionsecondaryenabled: Bool?
    public var kvmsnapshotenabled: Bool?
    public var apilimitinterval: Int?
    public var apilimitmax: Int?
    public var allowuserviewdestroyedvm: Bool?
    public var allowuserexpungerecovervm: Bool?
    public var kubernetesserviceenabled: Bool?
    public var kubernetesclusterexperimentalfeaturesenabled: Bool?
    public var defaultuipagesize: Int64?
    public init() {}
}

/// One API as `listApis` describes it. Response field trees are kept as JSON (real dumps hold empty `{}` entries).
public struct ApiDescription: Codable, Sendable, Hashable {
    public var name: String?
    public var description: String?
    public var isasync: Bool?
    public var since: String?
    public var related: String?
    public var type: String?
    public var params: [ApiParameter]?
    public var response: [JSONValue]?
    public init() {}
}

/// One parameter of an API in `listApis`.
public struct ApiParameter: Codable, Sendable, Hashable {
    public var name: String?
    public var description: String?
    public var type: String?
    public var length: Int?
    public var required: Bool?
    public var since: String?
    public var related: String?
    public init() {}
}

/// A `queryAsyncJobResult` answer. `jobstatus` 0 pending, 1 succeeded, 2 failed.
public struct AsyncJob: Codable, Sendable, Hashable {
    public var accountid: String?
    public var userid: String?
    public var cmd: String?
    public var jobstatus: Int?
    public var jobprocstatus: Int?
    public var jobresultcode: Int?
    public var jobresulttype: String?
    public var jobresult: JSONValue?
    public var jobinstancetype: String?
    public var jobinstanceid: String?
    public var created: Timestamp?
    public var completed: Timestamp?
    public var jobid: String?
    public init() {}
}

/// The answer of boolean commands (`{"success":true}`).
public struct SuccessResponse: Codable, Sendable, Hashable {
    public var success: Bool?
    public var displaytext: String?
    public init() {}

    /// A plain success.
    public init(success: Bool) { self.success = success }
}
