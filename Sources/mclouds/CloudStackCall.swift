import ArgumentParser
import CloudStack
import Core
import Foundation
import Logging

/// `mclouds cloudstack COMMAND key=value…`: a signed call to any CloudStack API.
struct CloudStackCall: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudstack",
        abstract: "Call any CloudStack API command (signed), waiting for async jobs.",
        discussion: """
            The secret key is read from MCLOUDS_CLOUDSTACK_SECRET (never put it on the command line).

              MCLOUDS_CLOUDSTACK_SECRET=… mclouds cloudstack \\
                  --endpoint http://127.0.0.1:18081/client/api --api-key KEY listZones
              mclouds cloudstack … deployVirtualMachine zoneid=Z templateid=T \\
                  serviceofferingid=S
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "The API endpoint, ending in /client/api.")
    var endpoint: String

    // CloudStack's keys are base64url: one in 64 begins with "-", which must not be taken for an option.
    @Option(parsing: .unconditional, help: "The API key.")
    var apiKey: String

    @Flag(help: "Return the job id of async commands instead of waiting.")
    var noWait = false

    @Argument(help: "The API command, e.g. listZones.")
    var command: String

    @Argument(help: "Parameters as key=value.")
    var parameters: [String] = []

    func validate() throws {
        try URLOption.validate(endpoint, option: "--endpoint", example: "http://host:8080/client/api")
        for p in parameters where !p.contains("=") { throw ValidationError("Parameter '\(p)' is not key=value.") }
        if ProcessInfo.processInfo.environment["MCLOUDS_CLOUDSTACK_SECRET"] == nil {
            throw ValidationError("Set MCLOUDS_CLOUDSTACK_SECRET to the secret key of --api-key.")
        }
    }

    func run() async throws {
        let logger = global.makeLogger(label: "mclouds.cloudstack")
        let secret = ProcessInfo.processInfo.environment["MCLOUDS_CLOUDSTACK_SECRET"] ?? ""
        let client = CloudStackClient(configuration: .init(endpoint: endpoint, apiKey: apiKey, secretKey: secret, region: endpoint))
        var params: [String: String] = [:]
        for p in parameters {
            let parts = p.split(separator: "=", maxSplits: 1)
            params[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        do {
            var result = try await client.call(command, params, logger: logger)
            if !noWait, let jobID = result["jobid"]?.stringValue, command != "queryAsyncJobResult" {
                let job = try await client.waitForJob(jobID, command: command, logger: logger)
                result = job.jobresult ?? .null
            }
            Console.line(result.serialized())
        } catch let error as CloudStackError {
            Console.error("error: \(error)")
            throw ExitCode(1)
        }
    }
}
