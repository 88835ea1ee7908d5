import Access
import Builder
import Classroom
import Core
import Federation
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TemplateRepository

/// An error the API answers with: an HTTP status and a message telling the caller what to do.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String

    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }

    static func unauthorized() -> APIError {
        APIError(
            status: 401,
            "This call needs a valid token: send `Authorization: Bearer TOKEN` with a token from `mclouds token create` (or the server's admin token); an expired or revoked token is refused."
        )
    }
    static func addressNotAllowed(_ address: String, group: AddressPolicy.Group) -> APIError {
        APIError(
            status: 403,
            "Calls of this kind (\(group.rawValue)) are not allowed from \(address): the server admits them from its partners' networks only (--allow \(group.rawValue)=CIDR)."
        )
    }
    static func forbidden(_ policy: Policy) -> APIError {
        APIError(status: 403, "This token may not make this call: it is for \(policy); ask a federation admin for a token of that role and scope.")
    }
    static func forgery(page: Bool) -> APIError {
        APIError(
            status: 403,
            page
                ? "This form is out of date or did not come from this site: reload the page and send it again."
                : "A change made with a session cookie needs the session's X-CSRF-Token header (or use a token: Authorization: Bearer …).")
    }
    static func partnerOnly() -> APIError {
        APIError(
            status: 401,
            "This template is partner-only: its manifest and its own chunks are served with a token (Authorization: Bearer …) of a federation member, e.g. a site agent's."
        )
    }
    static func publishingDisabled() -> APIError {
        APIError(
            status: 403,
            "Changes (publishing, regions, collections) are disabled on this server: "
                + "start it with an admin token (--admin-token-file or MCLOUDS_ADMIN_TOKEN).")
    }
    static func tooManyDigests(_ count: Int) -> APIError {
        APIError(
            status: 413,
            "The request asks about \(count) digests; at most \(MissingChunksRequest.pageLimit) per request: ask page by page (as mclouds template publish does)."
        )
    }
    static func badBody(_ reason: String) -> APIError { APIError(status: 400, "The request body is not valid: \(reason).") }
}

/// The JSON body of every error: `{"error": {"status": 404, "message": "…"}}` (plus `missing` for uploads).
struct ErrorBody: Codable, Sendable {
    struct Detail: Codable, Sendable {
        var status: Int
        var message: String
        var missing: [String]?
    }
    var error: Detail
}

/// Turns every error a handler throws into a JSON error response with the right status.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let detail = Self.detail(for: error)
            if detail.status >= 500 {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            var response = JSONResponse.make(ErrorBody(error: detail), status: detail.status)
            if detail.status == 401 { response.headers[.wwwAuthenticate] = "Bearer" }
            if let seconds = (error as? AccessError)?.retryAfter { response.headers[.retryAfter] = String(seconds) }
            return response
        }
    }

    static func detail(for error: any Error) -> ErrorBody.Detail {
        switch error {
        case let error as APIError:
            return .init(status: error.status, message: error.message)
        case let error as TemplateRepositoryError:
            let missing = error.missingChunks
            return .init(status: error.httpStatus, message: error.description, missing: missing.isEmpty ? nil : missing)
        case let error as any HTTPResponseError:
            let message =
                error.status == .notFound
                ? "No such resource. The API is described at /openapi.yaml."
                : error.status == .contentTooLarge ? "The request body is too large." : "\(error.status.reasonPhrase)."
            return .init(status: error.status.code, message: message)
        case is NIOTooManyBytesError:
            return .init(status: 413, message: "The request body is too large for this call; see /openapi.yaml for its limit.")
        case let error as FederationError:
            let status: Int
            switch error.kind {
            case .invalid: status = 400
            case .notFound: status = 404
            case .conflict: status = 409
            case .secret: status = 500
            }
            return .init(status: status, message: error.description)
        case let error as AccessError:
            let status =
                switch error.category {
                case .invalid: 400
                case .unauthenticated: 401
                case .forbidden: 403
                case .notFound: 404
                case .conflict: 409
                case .throttled: 429
                case .broken: 500
                }
            return .init(status: status, message: error.description)
        case let error as ClassroomError:
            let status =
                switch error.category {
                case "invalid": 400
                case "notFound": 404
                case "conflict", "doesNotFit": 409
                case "forbidden": 403
                case "cloud": 502
                default: 500
                }
            return .init(status: status, message: error.description)
        case let error as BuilderError:
            let status =
                switch error.category {
                case "invalidRecipe": 400
                case "notFound": 404
                case "conflict": 409
                case "refused": 403
                case "step": 502
                default: 500
                }
            return .init(status: status, message: error.description)
        case is DecodingError:
            return .init(status: 400, message: "The request body is not valid JSON for this call: \(error).")
        default:
            return .init(status: 500, message: "Internal error: \(error). See the server log.")
        }
    }
}

/// JSON responses encoded in declaration order.
enum JSONResponse {
    static func make(_ value: some Encodable, status: Int = 200) -> Response {
        let bytes = (try? OrderedJSONEncoder().encode(value).serializedBytes()) ?? Array("{}".utf8)
        return raw(bytes, status: status)
    }

    static func raw(_ bytes: [UInt8], status: Int = 200) -> Response {
        Response(
            status: .init(code: status), headers: [.contentType: "application/json", .contentLength: String(bytes.count)],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Request bodies decoded as JSON, with an error naming the field that is wrong.
enum JSONBody {
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, limit: Int) async throws -> T {
        var request = request
        let body = try await request.collectBody(upTo: limit)
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw APIError.badBody("malformed JSON for \(T.self) (\(Self.describe(error)))")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.dataCorrupted(let context):
            context.codingPath.isEmpty
                ? context.debugDescription : "at \(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        default: "\(error)"
        }
    }
}

/// Query parameters parsed as strictly as the OpenAPI document describes them: garbage is a 400, never a default.
enum Query {
    /// `true`/`false` (also `1`/`0`); absent is false.
    static func flag(_ request: Request, _ name: String) throws -> Bool {
        guard let text = request.uri.queryParameters.get(name) else { return false }
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default: throw APIError(status: 400, "Query parameter \(name) must be true or false, not \(Console.escaped(text)).")
        }
    }

    /// A finite number, or nil when absent.
    static func number(_ request: Request, _ name: String) throws -> Double? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw APIError(status: 400, "Query parameter \(name) must be a number, not \(Console.escaped(text)).")
        }
        return value
    }
}
