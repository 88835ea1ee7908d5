import Core
import Crypto
import Foundation
import TemplateRepository

/// Reads the central repository's signed catalog and manifests, trusting only configured publisher keys
/// and remembering the highest catalog serial seen (in `stateFile`), so a replayed or rolled-back
/// catalog is refused even across restarts.
public struct CatalogReader: Sendable {
    public let client: RepositoryClient
    public let verifier: DocumentVerifier
    public let stateFile: String

    public init(client: RepositoryClient, trusted: [TrustedKey], stateFile: String) {
        self.client = client
        verifier = DocumentVerifier(trusted: trusted)
        self.stateFile = stateFile
    }

    struct State: Codable {
        var lastSerial: Int
    }

    /// The highest serial accepted so far.
    public var lastSerial: Int? {
        guard let data = FileManager.default.contents(atPath: stateFile) else { return nil }
        return (try? JSONDecoder().decode(State.self, from: data))?.lastSerial
    }

    /// The current catalog, verified (signature, expiry, serial not older than the last seen), and recorded.
    /// - Throws: ``TemplateRepositoryError`` for a refused catalog, ``RepositoryClientError`` when unreachable.
    public func catalog(now: Date = Date()) async throws -> Catalog {
        let bytes = try await client.signedCatalog()
        let document: SignedDocument<Catalog>
        do {
            document = try JSONDecoder().decode(SignedDocument<Catalog>.self, from: Data(bytes))
        } catch {
            throw TemplateRepositoryError.malformed(document: "catalog", reason: "\(error)")
        }
        let catalog = try verifier.verifyCatalog(document, now: now, lastSerial: lastSerial)
        if catalog.serial != lastSerial {
            let data = try JSONEncoder().encode(State(lastSerial: catalog.serial))
            do {
                try data.write(to: URL(fileURLWithPath: stateFile), options: .atomic)
            } catch {
                throw SyncAgentError.storage(stateFile, "\(error)")
            }
        }
        return catalog
    }

    /// The manifest a catalog entry names: its bytes must hash to the entry's digest and carry a trusted signature.
    /// - Throws: ``SyncAgentError`` `manifestMismatch`, or ``TemplateRepositoryError`` for a refused document.
    public func manifest(for entry: Catalog.Entry, now: Date = Date()) async throws -> TemplateManifest {
        let bytes = try await client.signedManifest(name: entry.name, version: entry.version)
        guard SHA256.hash(data: bytes).hexString == entry.manifestDigest else {
            throw SyncAgentError.manifestMismatch(name: entry.name, version: entry.version)
        }
        let document: SignedDocument<TemplateManifest>
        do {
            document = try JSONDecoder().decode(SignedDocument<TemplateManifest>.self, from: Data(bytes))
        } catch {
            throw TemplateRepositoryError.malformed(document: "manifest \(entry.name)@\(entry.version)", reason: "\(error)")
        }
        let manifest = try verifier.verifyManifest(document, now: now)
        guard manifest.name == entry.name, manifest.version == entry.version, manifest.size == entry.size else {
            throw SyncAgentError.manifestMismatch(name: entry.name, version: entry.version)
        }
        return manifest
    }
}
