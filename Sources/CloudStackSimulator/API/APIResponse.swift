/// An answer of the simulated API, independent of the HTTP server that sends it.
struct APIResponse: Sendable {
    var status: Int
    var contentType: String
    var body: String
    var description: String?

    static let jsonType = "application/json; charset=UTF-8"
    static let xmlType = "text/xml; charset=UTF-8"
}
