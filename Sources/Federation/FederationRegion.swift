import AsyncHTTPClient
import Core
import Foundation
import Logging

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
    /// The partner's networks (CIDR, IPv4 or IPv6): where its people and systems call from. The IP locks
    /// (`mclouds security firewall`) admit these, and the central service, to this region's management API.
    public var networks: [String]
    /// Whether the API's certificate is verified (the default). Off only by an explicit setting of this region,
    /// logged as a warning at every use.
    public var verifyTLS: Bool

    public init(
        id: Int, name: String, endpoint: String, portableIPEnabled: Bool = false, gslbEnabled: Bool = true, apiKey: String,
        contact: String? = nil, notes: String? = nil, networks: [String] = [], verifyTLS: Bool = true
    ) {
        self.networks = networks
        self.verifyTLS = verifyTLS
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
        for network in networks where CIDR(network) == nil {
            throw FederationError(
                .invalid, "Network \(network) of region \(name) is not an address or network in CIDR notation (10.1.0.0/16, 2001:db8::/32).")
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, name, endpoint, portableIPEnabled, gslbEnabled, apiKey, contact, notes, networks, verifyTLS
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(Int.self, forKey: .id), name: try container.decode(String.self, forKey: .name),
            endpoint: try container.decode(String.self, forKey: .endpoint),
            portableIPEnabled: try container.decodeIfPresent(Bool.self, forKey: .portableIPEnabled) ?? false,
            gslbEnabled: try container.decodeIfPresent(Bool.self, forKey: .gslbEnabled) ?? true,
            apiKey: try container.decode(String.self, forKey: .apiKey),
            contact: try container.decodeIfPresent(String.self, forKey: .contact), notes: try container.decodeIfPresent(String.self, forKey: .notes),
            networks: try container.decodeIfPresent([String].self, forKey: .networks) ?? [],
            verifyTLS: try container.decodeIfPresent(Bool.self, forKey: .verifyTLS) ?? true)
    }

    /// The HTTP client for this region's API: certificates verified against the system's roots plus `caBundle`,
    /// unless this region's ``verifyTLS`` is off — then not at all, and `logger` is told (each time).
    /// - Throws: ``FederationError`` `invalid` when the bundle cannot be read.
    public func apiHTTPClient(caBundle: String? = nil, logger: Logger) throws -> HTTPClient {
        if !verifyTLS {
            logger.warning(
                "certificate verification is off for this region (verifyTLS false): anyone on the path can read its API calls",
                metadata: ["region": "\(name)", "endpoint": "\(endpoint)"])
        }
        do {
            return try HTTPClients.trusting(caBundle: caBundle, verify: verifyTLS)
        } catch {
            throw FederationError(.invalid, "Cannot read CA certificates from \(caBundle ?? ""): \(error).")
        }
    }
}
