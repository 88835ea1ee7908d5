import ArgumentParser
import Core
import Foundation
import Logging

/// The `mclouds` command: the control plane of a federation of Apache CloudStack clouds.
@main
struct MClouds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mclouds",
        abstract: "The control plane of a federation of Apache CloudStack clouds.",
        version: "mclouds \(BuildInfo.version)",
        subcommands: [
            Demo.self, ServerCommand.self, TemplateCommand.self, AgentCommand.self, RegionCommand.self, DashboardCommand.self, KeysCommand.self,
            TokenCommand.self, ClassCommand.self, AuditCommand.self, AdminCommand.self, UserCommand.self, SecretsCommand.self, SecurityCommand.self,
            SimulatorCommand.self,
            CloudStackCall.self,
            Bench.self,
        ]
    )

    /// Runs the command. A closed standard output must end a command quietly (`mclouds … | head`): SIGPIPE is
    /// ignored, so a write to it fails with EPIPE, which `StandardStream` turns into a quiet exit.
    static func main() async {
        signal(SIGPIPE, SIG_IGN)
        await main(nil)
    }
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Flag(name: .long, help: "Log lines as JSON objects (for log shippers).")
    var jsonLogs = false

    /// Bootstraps logging to standard error (call once per process) and returns the command's logger.
    func makeLogger(label: String, json: Bool = false) -> Logger {
        let level = logLevel
        let asJSON = json || jsonLogs
        LoggingSystem.bootstrap { label in
            if asJSON {
                var handler = JSONLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = ConsoleLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
