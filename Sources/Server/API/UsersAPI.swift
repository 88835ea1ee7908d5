import Access
import Core
import Foundation
import Hummingbird

/// Who may manage which users: a federation admin anyone; a partner admin the teachers and students of their
/// own region (new ones land there), never an admin. The JSON API and the admin pages both go through it.
struct UserAdministration: Sendable {
    let users: UserStore

    /// The users `principal` may see.
    func list(by principal: Principal) async throws -> [UserStore.User] {
        principal.role == .federationAdmin ? try await users.list() : try await users.list(scope: try region(of: principal))
    }

    /// Adds a user as the request's principal (noted for the audit log).
    func add(_ new: NewUser, by context: ServerContext) async throws -> UserStore.User {
        let principal = try context.require()
        var scope = new.region.flatMap { $0.isEmpty ? nil : $0 }
        if principal.role != .federationAdmin {
            let region = try region(of: principal)
            guard new.role == .teacher || new.role == .student else { throw Self.partnerOnly(region) }
            guard scope == nil || scope == region else { throw Self.partnerOnly(region) }
            scope = region
        }
        let user = try await users.add(
            username: new.username, displayName: new.displayName ?? "", email: new.email ?? "", role: new.role, scope: scope,
            password: new.password)
        context.audit.say("user \(user.username), role \(user.role)\(user.scope.map { ", region \($0)" } ?? "")")
        return user
    }

    /// Disables (ending every session) or enables an account the request's principal manages.
    func setDisabled(_ username: String, _ disabled: Bool, by context: ServerContext) async throws {
        try await checkManages(username, by: try context.require())
        try await users.setDisabled(username, disabled)
        context.audit.say(disabled ? "disabled, sessions ended" : "enabled")
    }

    /// Sets a new password (ending every session) on an account the request's principal manages.
    func resetPassword(_ username: String, _ password: String, by context: ServerContext) async throws {
        try await checkManages(username, by: try context.require())
        try await users.setPassword(username, password)
        context.audit.say("password reset, sessions ended")
    }

    private func checkManages(_ username: String, by principal: Principal) async throws {
        guard principal.role != .federationAdmin else { return }
        let region = try region(of: principal)
        let user = try await users.user(username)
        guard user.scope == region, user.role == .teacher || user.role == .student else { throw Self.partnerOnly(region) }
    }

    private func region(of principal: Principal) throws -> String {
        guard principal.role == .partnerAdmin, let scope = principal.scope else { throw APIError.forbidden(.admins) }
        return scope
    }

    static func partnerOnly(_ region: String) -> APIError {
        APIError(status: 403, "A partner admin manages the teachers and students of region \(region) only; ask a federation admin for anything else.")
    }
}

/// A user as asked for through the API or the admin page.
struct NewUser: Codable, Sendable {
    var username: String
    var displayName: String?
    var email: String?
    var role: Role
    /// The region id of a partner admin; a teacher's or student's home region.
    var region: String?
    var password: String
}

/// A password as set by an admin.
struct NewPassword: Codable, Sendable {
    var password: String
}

/// `/api/v1/users…` and `/api/v1/me`: people and their accounts.
struct UsersAPI: Sendable {
    let administration: UserAdministration

    func register(on router: GuardedRouter) {
        let administration = administration
        router.get("/api/v1/me") { _, context in
            guard let principal = context.principal else { throw APIError.unauthorized() }
            return JSONResponse.make(principal)
        }
        router.get("/api/v1/users") { _, context in JSONResponse.make(try await administration.list(by: try context.require())) }
        router.post("/api/v1/users") { request, context in
            let new = try await JSONBody.decode(NewUser.self, request, limit: 4096)
            return JSONResponse.make(try await administration.add(new, by: context), status: 201)
        }
        for (action, disabled) in [("disable", true), ("enable", false)] {
            router.post("/api/v1/users/{username}/\(action)") { _, context in
                try await administration.setDisabled(try context.parameters.require("username"), disabled, by: context)
                return Response(status: .noContent)
            }
        }
        router.post("/api/v1/users/{username}/password") { request, context in
            let new = try await JSONBody.decode(NewPassword.self, request, limit: 4096)
            try await administration.resetPassword(try context.parameters.require("username"), new.password, by: context)
            return Response(status: .noContent)
        }
    }
}

extension ServerContext {
    /// The admitted principal of a route that admits no anonymous caller.
    func require() throws -> Principal {
        guard let principal else { throw APIError.unauthorized() }
        return principal
    }
}
