import Core
import Logging

extension CloudStackClient {
    /// `listAccounts` (all pages).
    public func listAccounts(name: String? = nil, logger: Logger) async throws -> [Account] {
        var p: Parameters = ["listall": "true"]
        p["name"] = name
        return try await list("listAccounts", p.values, as: Account.self, logger: logger)
    }

    /// `createAccount`: an account with its first user. `accountType` 0 user, 1 root admin, 2 domain admin.
    public func createAccount(
        username: String, password: String, email: String, firstName: String, lastName: String, accountType: Int = 0, account: String? = nil,
        logger: Logger
    ) async throws -> Account {
        var p: Parameters = [
            "username": username, "password": password, "email": email, "firstname": firstName, "lastname": lastName,
            "accounttype": String(accountType),
        ]
        p["account"] = account
        return try await callObject("createAccount", p.values, as: Account.self, logger: logger)
    }

    /// `listUsers` (all pages).
    public func listUsers(username: String? = nil, account: String? = nil, logger: Logger) async throws -> [User] {
        var p: Parameters = ["listall": "true"]
        p["username"] = username
        p["account"] = account
        return try await list("listUsers", p.values, as: User.self, logger: logger)
    }

    /// `registerUserKeys`: a new API key pair for the user (the old one stops working).
    public func registerUserKeys(userID: String, logger: Logger) async throws -> UserKeys {
        try await callObject("registerUserKeys", ["id": userID], as: UserKeys.self, logger: logger)
    }

    /// `getUserKeys` (4.10+).
    public func getUserKeys(userID: String, logger: Logger) async throws -> UserKeys {
        try await callObject("getUserKeys", ["id": userID], as: UserKeys.self, logger: logger)
    }
}
