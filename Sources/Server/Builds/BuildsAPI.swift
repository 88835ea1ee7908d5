import Access
import Builder
import Core
import Federation
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Template builds over HTTP: admins start a build of a recipe in a region and follow its progress and log;
/// the builder VM's guest reports to its build's one-time callback; recipes registered with a schedule are
/// rebuilt on their own.
struct BuildsAPI: Sendable {
    let runner: BuildRunner

    /// `POST /api/v1/builds` and `PUT /api/v1/recipes/{name}` body.
    struct BuildRequest: Codable, Sendable {
        /// The recipe's YAML text.
        var recipe: String
        /// The region to build in (its name or id).
        var region: String
    }

    /// `GET /api/v1/builds/{id}` answer: the report and the log lines after `?after=`.
    struct BuildProgress: Codable, Sendable {
        var report: BuildReport
        var log: [BuildLogLine]
    }

    struct BuildList: Codable, Sendable {
        var builds: [BuildReport]
    }

    struct RecipeList: Codable, Sendable {
        var recipes: [BuildStore.RegisteredRecipe]
    }

    /// The largest recipe accepted (a recipe is text; its files are small configuration).
    static let recipeLimit = 1 << 20

    func register(on router: GuardedRouter) {
        let runner = self.runner
        router.post("/api/v1/builds") { request, context in
            let asked = try await JSONBody.decode(BuildRequest.self, request, limit: Self.recipeLimit)
            let recipe = try Recipe.parse(asked.recipe, file: "recipe")
            let report = try await runner.submit(recipe, region: asked.region, requestedBy: context.principal?.id ?? "unknown")
            context.audit.say("build \(report.id) of \(recipe.name) in \(report.region)")
            return JSONResponse.make(report, status: 202)
        }
        router.get("/api/v1/builds") { request, _ in
            let recipe = request.uri.queryParameters.get("recipe")
            return JSONResponse.make(BuildList(builds: try await runner.store.reports(recipe: recipe)))
        }
        router.get("/api/v1/builds/{id}") { request, context in
            let id = try context.parameters.require("id")
            let after = request.uri.queryParameters.get("after").flatMap { Int($0) } ?? 0
            return JSONResponse.make(
                BuildProgress(report: try await runner.store.report(id), log: try await runner.store.log(id, after: max(0, after))))
        }
        router.post("/api/v1/builds/{id}/callback") { request, context in
            let id = try context.parameters.require("id")
            let token = request.uri.queryParameters.get("token") ?? ""
            let report = try await JSONBody.decode(GuestReport.self, request, limit: Self.recipeLimit)
            try await runner.store.acceptCallback(id, token: token, report: report)
            return Response(status: .noContent)
        }
        router.get("/api/v1/recipes") { _, _ in
            JSONResponse.make(RecipeList(recipes: try await runner.store.recipes()))
        }
        router.put("/api/v1/recipes/{name}") { request, context in
            let name = try context.parameters.require("name")
            let asked = try await JSONBody.decode(BuildRequest.self, request, limit: Self.recipeLimit)
            let recipe = try Recipe.parse(asked.recipe, file: "recipe")
            guard recipe.name == name else {
                throw BuilderError.invalidRecipe(line: nil, field: "name", "the recipe is named \(recipe.name), not \(name) as the URL says")
            }
            let region = try await runner.registry.region(asked.region)
            let registered = try await runner.store.register(recipe, region: region.name, now: runner.clock.now())
            context.audit.say("recipe \(name) registered for \(region.name)\(recipe.schedule.map { ", rebuilt \($0)" } ?? "")")
            return JSONResponse.make(registered)
        }
        router.delete("/api/v1/recipes/{name}") { _, context in
            let name = try context.parameters.require("name")
            try await runner.store.unregister(name)
            context.audit.say("recipe \(name) unregistered")
            return Response(status: .noContent)
        }
    }
}
