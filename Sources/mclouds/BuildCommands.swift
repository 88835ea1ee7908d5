import ArgumentParser
import Builder
import Core
import Foundation
import NIOHTTP1
import TemplateRepository

extension TemplateCommand {
    /// `mclouds template build RECIPE --region R`: a build on the server, followed to its end.
    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a template from a recipe inside a region's CloudStack and publish it as a new version (federation admins).",
            discussion: """
                The server deploys a builder VM from the recipe's base with the provisioning as user data, waits for it to \
                report its checks and power off, makes a template of its disk, downloads it and publishes it; the builder VM \
                and the temporary template are removed whatever happens. The build's log is printed as it runs; the exit \
                status is 1 when a step failed, and the last line names it.

                  mclouds template build recipes/microelectronics-ubuntu.yaml --region MECA-TUS
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Argument(help: "The recipe file (YAML; docs/recipes.md).") var recipe: String
        @Option(help: "The region to build in (name or id).") var region: String
        @Flag(help: "Print the build's id and return at once instead of following it.") var detach = false
        @Flag(help: "Print the final report as JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let text = try RecipeFile.read(recipe)
                _ = try Recipe.parse(text, file: recipe)
                let client = try connection.client
                let started = try await client.call(
                    .POST, "/api/v1/builds", body: BuildsWire.Request(recipe: text, region: region), as: BuildReport.self)
                if detach { return Console.line(started.id) }
                if !json { Console.line("build \(started.id) of \(started.recipe) in \(started.region)") }
                var seen = 0
                var report = started
                while true {
                    let progress = try await client.call(.GET, "/api/v1/builds/\(started.id)?after=\(seen)", as: BuildsWire.Progress.self)
                    for line in progress.log {
                        if !json {
                            Console.line(
                                "\(line.time)  \((line.step?.rawValue ?? "").padding(toLength: 15, withPad: " ", startingAt: 0)) \(Console.escaped(line.text))"
                            )
                        }
                        seen = line.sequence
                    }
                    report = progress.report
                    if report.state != .running, progress.log.isEmpty { break }
                    if report.state == .running { try await Task.sleep(for: .seconds(1)) }
                }
                if json { try printJSON(report) } else { Console.line(BuildsWire.summary(report)) }
                if report.state == .failed { throw ExitCode(1) }
            }
        }
    }

    /// `mclouds template builds`: the server's builds, newest first.
    struct Builds: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List template builds, newest first (federation admins).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ServerConnection
        @Option(help: "Only this recipe's builds.") var recipe: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reportingErrors {
                let path =
                    "/api/v1/builds" + (recipe.map { "?recipe=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" } ?? "")
                let list = try await connection.client.call(.GET, path, as: BuildsWire.List.self)
                if json { return try printJSON(list.builds) }
                if list.builds.isEmpty { Console.line("No builds yet: start one with `mclouds template build RECIPE --region R`.") }
                for report in list.builds { Console.line("\(report.id)  \(report.started)  \(BuildsWire.summary(report))") }
            }
        }
    }

    /// `mclouds template recipe …`: check recipes offline, and register them on the server for scheduled rebuilds.
    struct RecipeCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "recipe",
            abstract: "Validate recipes, print their user data, register them for scheduled rebuilds.",
            subcommands: [Validate.self, UserData.self, Register.self, List.self, Remove.self])

        struct Validate: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Check recipe files; each error names the file, line and field.")
            @Argument(help: "Recipe files.") var files: [String]

            func run() async throws {
                var failed = false
                for file in files {
                    do {
                        let recipe = try Recipe.parse(try RecipeFile.read(file), file: file)
                        let schedule = recipe.schedule.map { ", rebuilt \($0)" } ?? ""
                        Console.line(
                            "\(file): \(recipe.name), \(recipe.os.rawValue) from \(recipe.base), \(recipe.packages.count) packages, \(recipe.checks.count) checks\(schedule)"
                        )
                    } catch let error as BuilderError {
                        Console.error("error: \(error)")
                        failed = true
                    }
                }
                if failed { throw ExitCode(1) }
            }
        }

        struct UserData: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "user-data",
                abstract: "Print the user data a build of the recipe deploys its VM with (cloud-config or PowerShell), for `cloud-init schema`.")
            @Argument(help: "The recipe file.") var file: String
            @Option(help: "The callback URL to show in it (a build makes a one-time one).")
            var callback = "http://127.0.0.1:8080/api/v1/builds/bld-0000000000000000/callback?token=TOKEN"

            func run() async throws {
                do {
                    let recipe = try Recipe.parse(try RecipeFile.read(file), file: file)
                    let plan = BuildPlan(callback: callback, scripts: Builder.UserData.scriptPaths(for: recipe), checks: recipe.checks)
                    FileHandle.standardOutput.write(Data(try Builder.UserData.generate(for: recipe, plan: plan).utf8))
                } catch let error as BuilderError {
                    Console.error("error: \(error)")
                    throw ExitCode(1)
                }
            }
        }

        struct Register: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Register (or replace) a recipe on the server for a region; one with a schedule is rebuilt on it.")
            @OptionGroup var global: GlobalOptions
            @OptionGroup var connection: ServerConnection
            @Argument(help: "The recipe file.") var file: String
            @Option(help: "The region to build in (name or id).") var region: String

            func run() async throws {
                try await reportingErrors {
                    let text = try RecipeFile.read(file)
                    let recipe = try Recipe.parse(text, file: file)
                    let registered = try await connection.client.call(
                        .PUT, "/api/v1/recipes/\(recipe.name)", body: BuildsWire.Request(recipe: text, region: region),
                        as: BuildStore.RegisteredRecipe.self)
                    let next =
                        registered.nextDue.map { ", next rebuild \(Timestamps.string(from: Date(timeIntervalSince1970: $0)))" } ?? ", no schedule"
                    Console.line("Registered \(registered.name) for \(registered.region)\(next).")
                }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the recipes registered on the server.")
            @OptionGroup var global: GlobalOptions
            @OptionGroup var connection: ServerConnection
            @Flag(help: "Print JSON.") var json = false

            func run() async throws {
                try await reportingErrors {
                    let recipes = try await connection.client.call(.GET, "/api/v1/recipes", as: BuildsWire.Recipes.self).recipes
                    if json { return try printJSON(recipes) }
                    if recipes.isEmpty { Console.line("No recipes registered: `mclouds template recipe register FILE --region R`.") }
                    for recipe in recipes {
                        let next = recipe.nextDue.map { "next \(Timestamps.string(from: Date(timeIntervalSince1970: $0)))" } ?? "on demand"
                        Console.line("\(recipe.name)  \(recipe.region)  \(recipe.schedule.map(\.description) ?? "no schedule")  \(next)")
                    }
                }
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Unregister a recipe (published versions stay).")
            @OptionGroup var global: GlobalOptions
            @OptionGroup var connection: ServerConnection
            @Argument(help: "The recipe's name.") var name: String

            func run() async throws {
                try await reportingErrors {
                    try await connection.client.perform(.DELETE, "/api/v1/recipes/\(name)")
                    Console.line("Unregistered \(name).")
                }
            }
        }
    }
}

/// Reads a recipe file, or says which cannot be read.
enum RecipeFile {
    static func read(_ path: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw BuilderError.notFound("Cannot read the recipe \(path): \(error.localizedDescription)")
        }
    }
}

/// What the build API sends and answers.
enum BuildsWire {
    struct Request: Codable {
        var recipe: String
        var region: String
    }

    struct Progress: Codable {
        var report: BuildReport
        var log: [BuildLogLine]
    }

    struct List: Codable {
        var builds: [BuildReport]
    }

    struct Recipes: Codable {
        var recipes: [BuildStore.RegisteredRecipe]
    }

    /// One line on how a build went.
    static func summary(_ report: BuildReport) -> String {
        switch report.state {
        case .running:
            return "\(report.recipe) in \(report.region): running (\(report.step?.rawValue ?? "starting"))"
        case .succeeded:
            let share = report.sharedWithPrevious.map { String(format: "; %.1f %% shared with %@", $0 * 100, report.previousVersion ?? "") } ?? ""
            return
                "\(report.recipe)@\(report.version ?? "") built in \(report.region): \(report.newChunks ?? 0) of \(report.chunks ?? 0) chunks new\(share)"
        case .failed:
            let left = report.leftovers.isEmpty ? "" : "; left behind: \(report.leftovers.joined(separator: "; "))"
            return "\(report.recipe) in \(report.region) failed at \(report.failedStep?.rawValue ?? "?"): \(report.error ?? "")\(left)"
        }
    }
}
