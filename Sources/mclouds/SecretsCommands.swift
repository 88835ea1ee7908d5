import Access
import ArgumentParser
import Classroom
import Core
import Federation
import Foundation
import Server

/// `mclouds secrets rotate`: a new master key for the secrets at rest, without stopping the servers.
struct SecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets", abstract: "Manage the master key that seals the stored secrets (the regions' CloudStack secret keys).",
        subcommands: [Rotate.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal every stored secret under a new master key, while the servers run.",
            discussion: """
                The key file is a key ring: the first key seals, every key opens. Rotation puts a new key first (running \
                servers see the changed file at their next use and still open what the old key sealed), seals every \
                stored secret again under it, and then retires the old key.

                With several hosts, each holding a copy of the key file: run `--stage-only` on one, copy the key file to \
                every host, then run `--finish` (re-seal, retire the old key) and copy the file again. With the key in \
                MCLOUDS_SECRETS_KEY, put the new key first there (keys are base64, comma-separated) and run `--finish`.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The server's data directory.") var data: String
        @OptionGroup var databaseOptions: DatabaseOptions
        @Flag(help: "Only put a new key first in the ring (to copy it to other hosts before --finish).") var stageOnly = false
        @Flag(help: "Only seal again under the ring's first key and retire the others.") var finish = false

        func validate() throws {
            if stageOnly && finish { throw ValidationError("Give --stage-only or --finish, not both.") }
        }

        func run() async throws {
            let logger = global.makeLogger(label: "mclouds.secrets")
            try await reportingErrors {
                let directory = try databaseOptions.directory(data)
                let path = directory.secretsKeyPath
                let fromEnvironment = !(ProcessInfo.processInfo.environment[SecretBox.environmentVariable] ?? "").isEmpty
                if fromEnvironment && !finish {
                    throw CLIError(
                        "The master key comes from \(SecretBox.environmentVariable): put a new key first there on every server, then run `mclouds secrets rotate --finish`."
                    )
                }
                if !finish {
                    let id = try SecretBox.rotate(keyFile: path)
                    Console.line("New sealing key \(id) is first in \(path).")
                    if stageOnly {
                        Console.line("Copy \(path) to every host that runs a server, then run `mclouds secrets rotate --finish`.")
                        return
                    }
                }
                let registry = try await directory.openRegistry(.existing, logger: logger)
                let (regions, regionsLeft) = try await registry.reseal()
                // The classroom's seat passwords and Guacamole key are sealed with the same ring.
                let classroom = try await directory.openClassroom(logger: logger).store
                let (seats, seatsLeft) = try await classroom.reseal(with: registry.secrets)
                let (resealed, remaining) = (regions + seats, regionsLeft + seatsLeft)
                guard remaining == 0 else {
                    throw CLIError(
                        "\(remaining) secrets are still sealed under an old key (written while this ran): run `mclouds secrets rotate --finish` again."
                    )
                }
                let access = try await directory.openAccess(logger: logger)
                var retired: [String] = []
                if !fromEnvironment { retired = try SecretBox.retire(keyFile: path) }
                try await access.audit.append(
                    actor: "local:\(NSUserName())", role: "-", source: "command line", action: "secrets rotate",
                    target: "key=\(try SecretBox.keyIDs(keyFile: path).first ?? "environment")", result: "ok: \(resealed) sealed again")
                Console.line("Sealed \(resealed) secret\(resealed == 1 ? "" : "s") again under the new key.")
                if !retired.isEmpty { Console.line("Retired key\(retired.count == 1 ? "" : "s") \(retired.joined(separator: ", ")) from \(path).") }
                if fromEnvironment { Console.line("Remove the old keys from \(SecretBox.environmentVariable) on every server now.") }
            }
        }
    }
}
