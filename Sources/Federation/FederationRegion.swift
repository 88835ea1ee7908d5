import Foundation

/// A region of the federation: one CloudStack installation, as the registry knows it.
///
/// `id` is the installation's CloudStack region id (set when its database was created); `endpoint` is its
/// API URL (`https://cloud.example.org/client/api`). The federation admin account's secret key is kept
/// apart, encrypted (``SecretBox``), and never part of this value.
public struct FederationRegion: Codable, Sendable, Hashable {
    public var id: Int
    public var name: String
    public var endpoint: String
    public var portableIPEnabled: Bool
    public var gslbEnabled: Bool
    /// The federation admin account's API key on this installation.
    public var apiKey: String
    public var contact: String?
    public var notes: String?

    public init(
        id: Int, name: String, endpoint: String, portableIPEnabled: Bool = false, gslbEnabled: Bool = true, apiKey: String,
        contact: String? = nil, notes: String? = nil
    ) {
        self.id = id
        self.name = name
        self.endpoint = endpoint
        self.portableIPEnabled = portableIPEnabled
        self.gslbEnabled = gslbEnabled
        self.apiKey = apiKey
        self.contact = contact
        self.notes = notes
    }

    /// The endpoint CloudStack keeps in its regions table: the management server's `/client` base
    /// (CloudStack's own default row is `http://localhost:8080/client/`).
    public var cloudStackEndpoint: String { Self.clientBase(endpoint) }

    /// An endpoint as the management server's `/client` base: trailing slashes and the `/api` suffix dropped.
    static func clientBase(_ endpoint: String) -> String {
        var base = endpoint
        while base.hasSuffix("/") { base.removeLast() }
        if base.hasSuffix("/api") { base.removeLast(4) }
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    /// Checks the fields a user types.
    /// - Throws: ``FederationError`` `invalid`, naming the field.
    public func validate() throws {
        guard id > 0 else { throw FederationError(.invalid, "Region id \(id) is not valid: CloudStack region ids are positive integers.") }
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed == name, name.count <= 255,
            !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw FederationError(.invalid, "Region name \"\(name)\" is not valid: give 1–255 characters without leading or trailing spaces.")
        }
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil else {
            throw FederationError(.invalid, "Endpoint \(endpoint) is not an http(s) URL (for example https://cloud.example.org/client/api).")
        }
        guard !apiKey.isEmpty, !apiKey.contains(where: \.isWhitespace) else {
            throw FederationError(.invalid, "The API key of region \(name) is empty or contains spaces.")
        }
    }
}
