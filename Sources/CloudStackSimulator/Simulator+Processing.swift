import CloudStack
import Core
import Foundation
import Logging

extension Simulator {
    /// Answers one API request: authentication, fault injection, parameter checks, then the command as
    /// one atomic step on the world.
    func process(parameters raw: [String: String], source: String? = "127.0.0.1", logger: Logger) async -> APIResponse {
        let faults = currentFaults
        countRequest(raw["command"] ?? "")
        if faults.outage {
            return APIResponse(
                status: 503, contentType: "text/html; charset=UTF-8", body: "<html><body><h1>503 Service Unavailable</h1></body></html>")
        }
        if faults.latencyMilliseconds > 0 {
            try? await Task.sleep(for: .milliseconds(faults.latencyMilliseconds))
        }
        let format: ResponseWriter.Format = raw.first { $0.key.lowercased() == "response" }?.value.lowercased() == "json" ? .json : .xml
        let command = raw["command"] ?? ""
        let handler = CommandTable.handler(for: command)
        let known = handler != nil
        let key = known ? ResponseWriter.responseName(command) : "errorresponse"
        let version = configuration.cloudStackVersion

        func fail(_ error: APIError, key: String) -> APIResponse {
            APIResponse(
                status: error.errorCode, contentType: format == .json ? APIResponse.jsonType : APIResponse.xmlType,
                body: ResponseWriter.body(key: key, inner: ResponseWriter.errorObject(error), format: format, version: version),
                description: error.text)
        }

        // Authentication, as ApiServer.verifyRequest: any failure is the same 401.
        guard let apiKey = raw.first(where: { $0.key.lowercased() == "apikey" })?.value,
            let signature = raw.first(where: { $0.key.lowercased() == "signature" })?.value, !command.isEmpty
        else {
            return fail(.unauthorized, key: key)
        }
        let now = clock()
        guard let caller = store.withLock({ world in world.userByAPIKey[apiKey].flatMap { world.users[$0] } }),
            caller.user.state == "enabled", let secret = caller.secretKey,
            RequestSigner.isValid(signature: signature, for: raw, secretKey: secret)
        else {
            logger.info("Rejected request signature", metadata: ["cloudstack.command": "\(command)"])
            return fail(.unauthorized, key: key)
        }
        // The keys' account may call only from its allowed source networks (ApiServer's origin check: the same 401).
        guard store.withLock({ $0.admits(source: source, account: caller.user.accountid) }) else {
            logger.warning(
                "Request by account was denied: its source is not in api.allowed.source.cidr.list",
                metadata: ["cloudstack.command": "\(command)", "source": "\(source ?? "unknown")", "account": "\(caller.user.account ?? "")"])
            return fail(.unauthorized, key: key)
        }
        if raw.first(where: { $0.key.lowercased() == "signatureversion" })?.value == "3" {
            guard let expires = raw.first(where: { $0.key.lowercased() == "expires" })?.value, let date = CloudStackDateFormat.date(from: expires),
                date >= now
            else {
                logger.info("Rejected expired or missing 'expires'", metadata: ["cloudstack.command": "\(command)"])
                return fail(.unauthorized, key: key)
            }
        }
        guard let handler else { return fail(.unauthorized, key: "errorresponse") }
        if CommandTable.adminOnly.contains(command), !caller.isAdmin {
            return fail(
                APIError(errorCode: 401, csErrorCode: nil, text: "The given command '\(command)' either does not exist, is not available for user."),
                key: key)
        }
        if let rate = faults.errorRate[command] ?? faults.errorRate["*"], rate > 0, Double.random(in: 0..<1) < rate {
            return fail(APIError(errorCode: 530, csErrorCode: 4250, text: "Injected fault: internal error executing \(command)"), key: key)
        }

        var parameters: [String: String] = [:]
        for (name, value) in raw where parameters[name.lowercased()] == nil { parameters[name.lowercased()] = value }
        do {
            try APICatalog.shared.validate(command, parameters)
        } catch let error as APIError {
            return fail(error, key: key)
        } catch {
            return fail(.internalError("\(error)"), key: key)
        }

        let ctx = CommandContext(command: command, parameters: parameters, caller: caller, now: now, baseURL: baseURL)
        let outcome: Result<Reply, APIError>
        var downloads: [DownloadRequest] = []
        var deleted: [String] = []
        var images: [String: PendingImage] = [:]
        (outcome, downloads, deleted, images) = store.withLock { world in
            world.advanceJobs(now: now)
            let result: Result<Reply, APIError>
            do {
                result = .success(try handler(&world, ctx))
            } catch let error as APIError {
                result = .failure(error)
            } catch {
                result = .failure(.internalError("\(error)"))
            }
            let queued = world.downloadQueue
            world.downloadQueue = []
            let files = world.deletedFiles
            world.deletedFiles = []
            let images = world.pendingImages ?? [:]
            world.pendingImages = nil
            return (result, queued, files, images)
        }
        for (templateID, image) in images { writeProvisionedImage(templateID: templateID, image) }
        for request in downloads { downloadRequests.yield(request) }
        await reconcileGuestPorts()
        for file in deleted { try? FileManager.default.removeItem(atPath: file) }
        if !CloudStackClient.isRead(command) { markDirty() }
        if let delay = faults.answerDelayMilliseconds[command], delay > 0 {
            try? await Task.sleep(for: .milliseconds(delay))
        }

        switch outcome {
        case .success(let reply):
            logger.debug("Answered", metadata: ["cloudstack.command": "\(command)"])
            let trimmed = APICatalog.shared.trimmed(reply, for: command)
            return APIResponse(
                status: 200, contentType: format == .json ? APIResponse.jsonType : APIResponse.xmlType,
                body: ResponseWriter.body(key: key, inner: ResponseWriter.inner(trimmed), format: format, version: version))
        case .failure(let error):
            logger.info(
                "Command failed",
                metadata: ["cloudstack.command": "\(command)", "cloudstack.errorcode": .stringConvertible(error.errorCode), "error": "\(error.text)"])
            return fail(error, key: key)
        }
    }
}
