/// What went wrong talking to a CloudStack management server.
///
/// API errors carry CloudStack's own fields (`errorcode`, `cserrorcode`, `errortext`) together with
/// the command and region, so a log line or a message says exactly which call failed where.
public struct CloudStackError: Error, Sendable, CustomStringConvertible {
    private enum Kind: Sendable {
        case api
        case transport(String)
        case timeout
        case malformedResponse(String)
        case jobFailed
        case jobTimedOut(jobID: String)
    }

    private let kind: Kind
    /// The API command that failed (`deployVirtualMachine`).
    public let command: String
    /// The region (installation) name the client was configured with.
    public let region: String
    /// The HTTP status of the answer, when there was one.
    public let httpStatus: Int?
    /// CloudStack's `errorcode` (401, 431, 530, 533, …) for API errors and failed async jobs.
    public let errorCode: Int?
    /// CloudStack's `cserrorcode` (4350 InvalidParameterValueException, 9999, …) when the server sent one.
    public let csErrorCode: Int?
    /// CloudStack's `errortext`, or a description of the transport failure.
    public let errorText: String

    private init(
        kind: Kind, command: String, region: String, httpStatus: Int? = nil, errorCode: Int? = nil, csErrorCode: Int? = nil,
        errorText: String
    ) {
        self.kind = kind
        self.command = command
        self.region = region
        self.httpStatus = httpStatus
        self.errorCode = errorCode
        self.csErrorCode = csErrorCode
        self.errorText = errorText
    }

    /// An error answer from the API (the `<command>response` error envelope).
    public static func api(command: String, region: String, httpStatus: Int, errorCode: Int, csErrorCode: Int?, errorText: String)
        -> CloudStackError
    {
        .init(
            kind: .api, command: command, region: region, httpStatus: httpStatus, errorCode: errorCode, csErrorCode: csErrorCode, errorText: errorText
        )
    }

    /// The request could not be sent or the connection broke.
    public static func transport(command: String, region: String, underlying: String, reachedServer: Bool) -> CloudStackError {
        .init(kind: .transport(reachedServer ? "reached" : "unreached"), command: command, region: region, errorText: underlying)
    }

    /// No answer within the request timeout.
    public static func timeout(command: String, region: String, seconds: Double) -> CloudStackError {
        .init(kind: .timeout, command: command, region: region, errorText: "no answer within \(seconds) s")
    }

    /// The answer was not a CloudStack JSON envelope.
    public static func malformedResponse(command: String, region: String, httpStatus: Int?, detail: String) -> CloudStackError {
        .init(kind: .malformedResponse(detail), command: command, region: region, httpStatus: httpStatus, errorText: detail)
    }

    /// An async job ended with `jobstatus` 2.
    public static func jobFailed(command: String, region: String, errorCode: Int?, csErrorCode: Int?, errorText: String) -> CloudStackError {
        .init(kind: .jobFailed, command: command, region: region, errorCode: errorCode, csErrorCode: csErrorCode, errorText: errorText)
    }

    /// An async job was still pending at the deadline.
    public static func jobTimedOut(command: String, region: String, jobID: String, seconds: Double) -> CloudStackError {
        .init(kind: .jobTimedOut(jobID: jobID), command: command, region: region, errorText: "job \(jobID) still pending after \(seconds) s")
    }

    /// True for a rejected signature or key (HTTP 401).
    public var isAuthenticationFailure: Bool { errorCode == 401 || httpStatus == 401 }
    /// True when the request never reached the server (safe to retry any command).
    public var requestNeverReachedServer: Bool {
        if case .transport(let how) = kind { return how == "unreached" }
        return false
    }
    /// True for transport failures and timeouts (the server may be down).
    public var isTransportFailure: Bool {
        switch kind {
        case .transport, .timeout: true
        default: false
        }
    }
    /// True when the failure is on the server side (5xx other than CloudStack's own 53x API errors).
    public var isServerUnavailable: Bool {
        guard let status = httpStatus else { return false }
        return (500...504).contains(status) && errorCode == nil
    }

    public var description: String {
        let place = "\(command) on region \(region)"
        switch kind {
        case .api:
            let hint: String
            switch errorCode {
            case 401: hint = " Check the API key and secret key configured for this region, and that the clock is right (signatureVersion 3 expiry)."
            case 431: hint = " Check the parameters of the call."
            case 533: hint = " The region has no capacity left for this request: free resources or pick another zone or offering."
            default: hint = ""
            }
            return "CloudStack \(place) failed: HTTP \(httpStatus ?? 0), errorcode \(errorCode ?? 0)"
                + (csErrorCode.map { ", cserrorcode \($0)" } ?? "") + ": \(errorText).\(hint)"
        case .transport:
            return "Could not reach CloudStack for \(place): \(errorText). Check that the endpoint is right and the management server is up."
        case .timeout:
            return "CloudStack \(place) timed out: \(errorText). The management server may be overloaded or unreachable."
        case .malformedResponse:
            return "CloudStack \(place) answered with something that is not a CloudStack JSON response"
                + (httpStatus.map { " (HTTP \($0))" } ?? "") + ": \(errorText). Check that the endpoint ends in /client/api."
        case .jobFailed:
            return "CloudStack async job for \(place) failed" + (errorCode.map { " with errorcode \($0)" } ?? "") + ": \(errorText)."
        case .jobTimedOut:
            return "CloudStack async job for \(place) did not finish: \(errorText). It may still complete; check with queryAsyncJobResult."
        }
    }
}
