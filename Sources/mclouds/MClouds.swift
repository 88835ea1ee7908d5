import ArgumentParser
import Foundation
import Logging

/// The `mclouds` command: the control plane of a federation of Apache CloudStack clouds.
@main
struct MClouds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mclouds",
        abstract: "The control plane of a federation of Apache CloudStack clouds.",
        subcommands: [
            Demo.self, ServerCommand.self, TemplateCommand.self, AgentCommand.self, KeysCommand.self, SimulatorCommand.self, CloudStackCall.self,
            Bench.self,
        ]
    )
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    /// Bootstraps logging to standard error (call once per process) and returns the command's logger.
    func makeLogger(label: String) -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
