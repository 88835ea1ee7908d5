import Access
import Core
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TemplateRepository

/// Whether a template is partner-only (`POST /api/v1/templates/{name}/access`).
struct TemplateAccess: Codable, Sendable {
    var partnerOnly: Bool
}

/// The template repository over HTTP: templates and versions, the signed catalog and manifests, chunks
/// by digest (immutable, `Range`-able), and the token-protected publish calls.
struct RepositoryAPI: Sendable {
    let repository: Repository

    func register(on router: GuardedRouter) {
        registerRollout(on: router)
        router.get("/api/v1/repository") { _, _ in
            let key = repository.key.publicKey
            return JSONResponse.make(RepositoryInfo(chunking: repository.parameters, publisherKey: key.base64, keyID: key.keyID))
        }
        router.get("/api/v1/templates") { _, _ in
            JSONResponse.make(TemplateList(templates: try await repository.templates()))
        }
        router.get("/api/v1/templates/{name}") { _, context in
            JSONResponse.make(try await repository.template(try context.parameters.require("name")))
        }
        router.get("/api/v1/templates/{name}/versions/{version}/manifest") { _, context in
            let name = try context.parameters.require("name")
            let version = try context.parameters.require("version")
            // A partner-only template's manifest goes to authenticated callers only.
            let partnerOnly = try await repository.isPartnerOnly(name)
            if partnerOnly && context.principal == nil { throw APIError.partnerOnly() }
            var response = JSONResponse.raw(try await repository.signedManifest(name: name, version: version))
            if partnerOnly { response.headers[.cacheControl] = "private, no-store" }
            return response
        }
        router.post("/api/v1/templates/{name}/access") { request, context in
            let name = try context.parameters.require("name")
            let asked = try await JSONBody.decode(TemplateAccess.self, request, limit: 1024)
            let before = try await repository.isPartnerOnly(name)
            try await repository.setPartnerOnly(name, asked.partnerOnly)
            let after = try await repository.isPartnerOnly(name)
            context.audit.change("partner-only", from: before, to: after)
            return JSONResponse.make(TemplateAccess(partnerOnly: after))
        }
        router.get("/api/v1/catalog") { _, _ in
            var response = JSONResponse.raw(try await repository.signedCatalog())
            response.headers[.cacheControl] = "no-cache"
            return response
        }
        router.get("/api/v1/chunks/{digest}") { request, context in
            try await chunk(request, context, includeBody: true)
        }
        router.head("/api/v1/chunks/{digest}") { request, context in
            try await chunk(request, context, includeBody: false)
        }
        router.put("/api/v1/chunks/{digest}") { request, context in
            let digest = try context.parameters.require("digest")
            var request = request
            let body = try await request.collectBody(upTo: repository.parameters.maximum)
            let created = try body.withUnsafeReadableBytes { try repository.chunks.put(digest, $0) }
            context.audit.say(created ? "stored \(body.readableBytes) bytes" : "already stored")
            return Response(status: created ? .created : .ok, headers: [.contentLength: "0"])
        }
        router.post("/api/v1/uploads/missing") { request, context in
            // One page at a time: the body is bounded before it is read, and the store is asked off the
            // request tasks' threads, so a negotiation never starves the other requests.
            let asked = try await JSONBody.decode(MissingChunksRequest.self, request, limit: MissingChunksRequest.bodyLimit)
            guard asked.digests.count <= MissingChunksRequest.pageLimit else { throw APIError.tooManyDigests(asked.digests.count) }
            let missing = try await repository.missingOffloaded(asked.digests)
            context.audit.say("asked about \(asked.digests.count) chunks, \(missing.count) missing")
            return JSONResponse.make(MissingChunksResponse(missing: missing))
        }
        router.post("/api/v1/templates/{name}/versions") { request, context in
            let name = try context.parameters.require("name")
            let commit = try await JSONBody.decode(CommitRequest.self, request, limit: 64 << 20)
            guard commit.metadata.name == name else {
                throw APIError.badBody("metadata.name \(commit.metadata.name) differs from the template in the path, \(name)")
            }
            let report = try await repository.commit(commit.metadata, image: commit.image)
            context.audit.say(
                report.alreadyPublished
                    ? "version \(report.version) was already published"
                    : "published version \(report.version): \(report.size) bytes in \(report.chunks) chunks (\(report.newChunks) new), "
                        + "catalog serial \(report.catalogSerial)")
            context.logger.info(
                "version committed", metadata: ["template": "\(name)", "version": "\(report.version)", "bytes": .stringConvertible(report.size)])
            return JSONResponse.make(report, status: report.alreadyPublished ? 200 : 201)
        }
        router.post("/api/v1/templates/{name}/versions/{version}/state") { request, context in
            let name = try context.parameters.require("name")
            let version = try context.parameters.require("version")
            let change = try await JSONBody.decode(StateChangeRequest.self, request, limit: 4096)
            guard change.state != .published else { throw APIError.badBody("a version can only become deprecated or withdrawn") }
            let before = try await repository.template(name).versions.first { $0.version == version }?.state
            let serial = try await repository.setState(change.state, name: name, version: version)
            context.logger.info("version state changed", metadata: ["template": "\(name)", "version": "\(version)", "state": "\(change.state)"])
            context.audit.change("state", from: before.map { "\($0)" } ?? "-", to: "\(change.state)")
            return JSONResponse.make(StateChangeResponse(name: name, version: version, state: change.state, catalogSerial: serial))
        }
    }

    func registerRollout(on router: GuardedRouter) {
        router.post("/api/v1/sites/{site}/report") { request, context in
            let site = try context.parameters.require("site")
            let report = try await JSONBody.decode(RolloutStatus.self, request, limit: 4 << 20)
            try await repository.recordReport(site: site, report.states)
            context.audit.say("\(report.states.count) template states")
            return JSONResponse.make(RolloutStatus(states: try await repository.rollout().filter { $0.site == site }))
        }
        router.get("/api/v1/rollout") { _, _ in
            JSONResponse.make(RolloutStatus(states: try await repository.rollout()))
        }
    }

    /// A chunk, whole or a `Range` of it. Chunks never change, so they are cacheable forever.
    private func chunk(_ request: Request, _ context: ServerContext, includeBody: Bool) async throws -> Response {
        let digest = try context.parameters.require("digest")
        // A chunk only partner-only templates reference goes to authenticated callers only, and no shared cache keeps it.
        let restricted = try await repository.isRestricted(chunk: digest)
        if restricted && context.principal == nil { throw APIError.partnerOnly() }
        let bytes = try repository.chunks.get(digest)
        var headers: HTTPFields = [
            .eTag: "\"\(digest)\"", .cacheControl: restricted ? "private, max-age=31536000, immutable" : "public, max-age=31536000, immutable",
            .acceptRanges: "bytes", .contentType: "application/octet-stream",
        ]
        if let match = request.headers[.ifNoneMatch], match == "\"\(digest)\"" || match == "*" {
            return Response(status: .notModified, headers: headers)
        }
        let selection = ByteRange.select(request, size: bytes.count, validator: "\"\(digest)\"", headers: &headers, what: "this chunk")
        guard case .serve(let status, let range) = selection else { return selection.refusal! }
        headers[.contentLength] = String(range.count)
        let body = includeBody ? ResponseBody(byteBuffer: ByteBuffer(bytes: bytes[range])) : ResponseBody()
        return Response(status: status, headers: headers, body: body)
    }
}

/// `Range: bytes=…` for one range (RFC 9110 §14.1.2).
enum ByteRange {
    enum Selection {
        case serve(HTTPResponse.Status, Range<Int>)
        case refuse(Response)

        var refusal: Response? {
            if case .refuse(let response) = self { return response }
            return nil
        }
    }

    /// What to send of `size` bytes for the request's `Range`: the whole (200), one range (206, with
    /// `Content-Range` added to `headers`), or a 416 JSON error with `Content-Range: bytes */size`.
    /// An `If-Range` that is not `validator` (the representation's strong ETag; nil when it has none) asks for
    /// the whole (RFC 9110 §13.1.5): the client's partial copy is of something else.
    static func select(_ request: Request, size: Int, validator: String?, headers: inout HTTPFields, what: String) -> Selection {
        guard let header = request.headers[.range] else { return .serve(.ok, 0..<size) }
        if let condition = request.headers[.ifRange], condition.trimmingCharacters(in: .whitespaces) != validator || condition.hasPrefix("W/") {
            return .serve(.ok, 0..<size)
        }
        guard let asked = parse(header, size: size) else {
            var response = JSONResponse.make(
                ErrorBody(error: .init(status: 416, message: "Range \(header) is outside the \(size) bytes of \(what).")), status: 416)
            response.headers[.contentRange] = "bytes */\(size)"
            return .refuse(response)
        }
        guard let range = asked else { return .serve(.ok, 0..<size) }
        headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)"
        return .serve(.partialContent, range)
    }

    /// `.some(nil)`: serve the whole (no single range we use); `.some(range)`: that range; `nil`: unsatisfiable.
    static func parse(_ header: String, size: Int) -> Range<Int>?? {
        guard header.hasPrefix("bytes=") else { return .some(nil) }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        if spec.contains(",") { return .some(nil) }  // several ranges: send it all, as RFC 9110 allows
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else { return .some(nil) }
        if parts[0].isEmpty {
            guard let suffix = Int(parts[1]), suffix > 0, size > 0 else { return nil }
            return .some(max(0, size - suffix)..<size)
        }
        guard let start = Int(parts[0]), start >= 0 else { return .some(nil) }
        guard start < size else { return nil }
        if parts[1].isEmpty { return .some(start..<size) }
        guard let end = Int(parts[1]), end >= start else { return .some(nil) }
        return .some(start..<min(end + 1, size))
    }
}
