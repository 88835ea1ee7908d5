import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// HTTP as clients expect it, around a router: `HEAD` answers every `GET` route (the `GET` answer's status and
/// headers, no body), and a known path asked with a method it does not take gets `405 Method Not Allowed` with
/// `Allow` instead of a 404.
struct HTTPConventions: HTTPResponderBuilder {
    let router: Router<ServerContext>
    let routes: [RouteDescription]

    func buildResponder() -> Responder {
        Responder(inner: router.buildResponder(), table: RouteTable(routes))
    }

    struct Responder: HTTPResponder {
        let inner: RouterResponder<ServerContext>
        let table: RouteTable

        func respond(to request: Request, context: ServerContext) async throws -> Response {
            let path = request.uri.path
            let methods = table.methods(for: path)
            if request.method == .head, !methods.contains("HEAD"), methods.contains("GET") {
                var head = request.head
                head.method = .get
                var response = try await inner.respond(to: Request(head: head, body: request.body), context: context)
                response.body = .init()
                return response
            }
            if !methods.isEmpty, !methods.contains(request.method.rawValue) {
                let allowed = table.allowed(methods)
                let message = "\(request.method.rawValue) is not allowed on \(path): use \(allowed)."
                var response = JSONResponse.make(ErrorBody(error: .init(status: 405, message: message)), status: 405)
                response.headers[.allow] = allowed
                return response
            }
            return try await inner.respond(to: request, context: context)
        }
    }
}

/// The server's routes as path patterns (`{name}` matches one segment), to tell which methods a path takes.
struct RouteTable: Sendable {
    private let patterns: [(segments: [Substring], methods: Set<String>)]

    init(_ routes: [RouteDescription]) {
        var byPath: [String: Set<String>] = [:]
        for route in routes { byPath[route.path, default: []].insert(route.method) }
        patterns = byPath.sorted { $0.key < $1.key }.map { ($0.key.split(separator: "/", omittingEmptySubsequences: false), $0.value) }
    }

    /// The methods of the patterns `path` matches best (a literal segment beats a parameter: `/regions/sync` is not `/regions/{id}`).
    func methods(for path: String) -> Set<String> {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var best: (literals: Int, methods: Set<String>) = (-1, [])
        for pattern in patterns where pattern.segments.count == segments.count {
            var literals = 0
            let matches = zip(pattern.segments, segments).allSatisfy { p, s in
                if p == s {
                    literals += 1
                    return true
                }
                return p.hasPrefix("{") && p.hasSuffix("}") && !s.isEmpty
            }
            guard matches else { continue }
            if literals > best.literals {
                best = (literals, pattern.methods)
            } else if literals == best.literals {
                best.methods.formUnion(pattern.methods)
            }
        }
        return best.methods
    }

    /// The `Allow` header for `methods` (GET implies HEAD).
    func allowed(_ methods: Set<String>) -> String {
        var all = methods
        if all.contains("GET") { all.insert("HEAD") }
        let order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        return all.sorted { (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1) }.joined(separator: ", ")
    }
}
