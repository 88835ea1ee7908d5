import Core
import Crypto
import Foundation
import Logging
import NIOHTTP1
import Server
import TemplateRepository
import TestSupport
import Testing

@Suite("Repository HTTP API")
struct RepositoryAPITests {
    @Test(
        "chunks are served with Content-Length, ETag, immutable caching and byte ranges; a range past the end is 416",
        arguments: TestDatabase.available)
    func chunks(backend: TestDatabase) async throws {
        try await withServer(on: backend) { server, repository, directory in
            let image = bytes(100_000, seed: 1)
            _ = try await repository.publish(imageAt: try writeFile(image, in: directory), metadata: sampleMetadata())
            let manifest = try await repository.manifest(name: "ubuntu-22.04", version: "1.0")
            let chunk = manifest.chunks[1]
            let expected = Array(image[Int(chunk.offset)..<Int(chunk.offset) + chunk.length])
            let url = "\(server.baseURL)/api/v1/chunks/\(chunk.digest)"

            let whole = try await http(.GET, url)
            #expect(whole.status == 200 && whole.body == expected)
            #expect(whole.headers["Content-Length"].first == String(chunk.length))
            #expect(whole.headers["ETag"].first == "\"\(chunk.digest)\"")
            #expect(whole.headers["Cache-Control"].first == "public, max-age=31536000, immutable")
            #expect(whole.headers["Accept-Ranges"].first == "bytes")

            let part = try await http(.GET, url, headers: [("Range", "bytes=100-199")])
            #expect(part.status == 206 && part.body == Array(expected[100..<200]))
            #expect(part.headers["Content-Range"].first == "bytes 100-199/\(chunk.length)")
            let open = try await http(.GET, url, headers: [("Range", "bytes=\(chunk.length - 10)-")])
            #expect(open.status == 206 && open.body == Array(expected.suffix(10)))
            let suffix = try await http(.GET, url, headers: [("Range", "bytes=-5")])
            #expect(suffix.body == Array(expected.suffix(5)))
            // If-Range: the same strong validator keeps the range; another (or a weak or a date) asks for the whole.
            let same = try await http(.GET, url, headers: [("Range", "bytes=100-199"), ("If-Range", "\"\(chunk.digest)\"")])
            #expect(same.status == 206 && same.body == Array(expected[100..<200]))
            for other in ["\"\(String(repeating: "0", count: 64))\"", "W/\"\(chunk.digest)\"", "Tue, 01 Dec 2026 10:00:00 GMT"] {
                let changed = try await http(.GET, url, headers: [("Range", "bytes=100-199"), ("If-Range", other)])
                #expect(changed.status == 200 && changed.body == expected, "If-Range \(other)")
            }

            let past = try await http(.GET, url, headers: [("Range", "bytes=\(chunk.length)-\(chunk.length + 10)")])
            #expect(past.status == 416)
            #expect(past.headers["Content-Range"].first == "bytes */\(chunk.length)")
            #expect(past.errorMessage?.contains("outside") == true)

            let cached = try await http(.GET, url, headers: [("If-None-Match", "\"\(chunk.digest)\"")])
            #expect(cached.status == 304 && cached.body.isEmpty)
            let head = try await http(.HEAD, url)
            #expect(head.status == 200 && head.headers["Content-Length"].first == String(chunk.length))

            let unknown = try await http(.GET, "\(server.baseURL)/api/v1/chunks/\(String(repeating: "ab", count: 32))")
            #expect(unknown.status == 404 && unknown.errorMessage?.contains("not in the store") == true)
            let traversal = try await http(.GET, "\(server.baseURL)/api/v1/chunks/..%2F..%2Fcatalog.sqlite")
            #expect(traversal.status == 400 && traversal.errorMessage?.contains("not a SHA-256 digest") == true)
            let nowhere = try await http(.GET, "\(server.baseURL)/api/v2/nothing")
            #expect(nowhere.status == 404 && nowhere.errorMessage != nil)
        }
    }

    @Test("publishing through the API uploads only missing chunks, needs the admin token, and commits atomically", arguments: TestDatabase.available)
    func remotePublish(backend: TestDatabase) async throws {
        try await withServer(on: backend) { server, repository, directory in
            let v1 = bytes(400_000, seed: 2)
            let path = try writeFile(v1, in: directory)
            let anonymous = RemotePublisher(client: RepositoryClient(baseURL: server.baseURL))
            let refused = await #expect(throws: RepositoryClientError.self) { try await anonymous.publish(imageAt: path, metadata: sampleMetadata()) }
            #expect(refused?.status == 401 && refused?.message.contains("admin token") == true)
            let wrong = RemotePublisher(client: RepositoryClient(baseURL: server.baseURL, token: "guess"))
            await #expect(throws: RepositoryClientError.self) { try await wrong.publish(imageAt: path, metadata: sampleMetadata()) }
            #expect(try repository.chunks.allDigests().isEmpty)

            let client = RepositoryClient(baseURL: server.baseURL, token: "admin-token")
            let publisher = RemotePublisher(client: client)
            let first = try await publisher.publish(imageAt: path, metadata: sampleMetadata())
            #expect(first.newChunks == first.chunks && first.newBytes == 400_000 && first.sha256 == SHA256.hash(data: v1).hexString)
            let again = try await publisher.publish(imageAt: path, metadata: sampleMetadata())
            #expect(again.alreadyPublished && again.newBytes == 0)

            var v2 = v1
            v2.replaceSubrange(200_000..<200_050, with: bytes(50, seed: 3))
            let second = try await publisher.publish(imageAt: try writeFile(v2, in: directory), metadata: sampleMetadata("ubuntu-22.04", "2.0"))
            #expect(second.newChunks >= 1 && second.newChunks <= 3)
            #expect(second.newBytes < 100_000)

            let list = try await client.templates()
            #expect(list.templates.map(\.name) == ["ubuntu-22.04"])
            #expect(list.templates[0].versions.map(\.version) == ["1.0", "2.0"])

            let withdrawn = try await client.setState(.withdrawn, name: "ubuntu-22.04", version: "1.0")
            let catalogBytes = try await client.signedCatalog()
            let catalog = try repository.verifier.verifyCatalog(
                try JSONDecoder().decode(SignedDocument<Catalog>.self, from: Data(catalogBytes)), now: Date(), lastSerial: nil)
            #expect(catalog.serial == withdrawn.catalogSerial)
            #expect(catalog.entries.map(\.version) == ["2.0"])
        }
    }

    @Test("bad uploads get clear JSON errors and change nothing", arguments: TestDatabase.available)
    func badUploads(backend: TestDatabase) async throws {
        try await withServer(on: backend) { server, repository, _ in
            let auth = [("Authorization", "Bearer admin-token")]
            let data = bytes(5_000, seed: 4)
            let wrongDigest = String(repeating: "0", count: 64)
            let tampered = try await http(.PUT, "\(server.baseURL)/api/v1/chunks/\(wrongDigest)", headers: auth, body: data)
            #expect(tampered.status == 400 && tampered.errorMessage?.contains("does not match its digest") == true)

            let big = bytes(testParameters.maximum + 1, seed: 5)
            let oversized = try await http(.PUT, "\(server.baseURL)/api/v1/chunks/\(SHA256.hash(data: big).hexString)", headers: auth, body: big)
            #expect(oversized.status == 413 && oversized.errorMessage?.contains("too large") == true)

            let malformed = try await http(
                .POST, "\(server.baseURL)/api/v1/templates/ubuntu/versions", headers: auth, body: Array("{\"metadata\":".utf8))
            #expect(malformed.status == 400 && malformed.errorMessage?.contains("not valid") == true)

            let digest = SHA256.hash(data: data).hexString
            let commit = CommitRequest(
                metadata: sampleMetadata("ubuntu", "1"),
                image: ChunkedImage(digest: digest, size: 5_000, chunks: [ChunkReference(digest: digest, offset: 0, length: 5_000)]))
            let body = try OrderedJSONEncoder().encode(commit).serializedBytes()
            let incomplete = try await http(.POST, "\(server.baseURL)/api/v1/templates/ubuntu/versions", headers: auth, body: body)
            #expect(incomplete.status == 409)
            #expect(incomplete.json?["error"]?["missing"]?.arrayValue?.first?.stringValue == digest)

            let traversal = try await http(.POST, "\(server.baseURL)/api/v1/templates/..%2Fx/versions", headers: auth, body: body)
            #expect(traversal.status == 400)
            let badName = try await http(.GET, "\(server.baseURL)/api/v1/templates/..%2F..%2Fetc/versions/1/manifest")
            #expect(badName.status == 400 && badName.errorMessage?.contains("not allowed") == true)
            #expect(try await repository.templates().isEmpty)
        }
    }

    @Test(
        "the missing-chunk negotiation is paged: more than 10,000 digests, or a body past its bound, is a 413 before anything is looked up",
        arguments: TestDatabase.available)
    func negotiationBounded(backend: TestDatabase) async throws {
        try await withServer(on: backend) { server, _, _ in
            let auth = [("Authorization", "Bearer admin-token")]
            let url = "\(server.baseURL)/api/v1/uploads/missing"
            let digests = (0..<MissingChunksRequest.pageLimit + 1).map { String(format: "%064x", $0) }
            let page = try JSONEncoder().encode(MissingChunksRequest(digests: Array(digests.prefix(MissingChunksRequest.pageLimit))))
            let answered = try await http(.POST, url, headers: auth, body: Array(page))
            #expect(answered.status == 200 && answered.json?["missing"]?.arrayValue?.count == MissingChunksRequest.pageLimit)
            let tooMany = try await http(.POST, url, headers: auth, body: Array(try JSONEncoder().encode(MissingChunksRequest(digests: digests))))
            #expect(tooMany.status == 413)
            // Padding cannot carry a larger body past the bound either.
            let padded = Array("{\"digests\": [] \(String(repeating: " ", count: MissingChunksRequest.bodyLimit))}".utf8)
            #expect(try await http(.POST, url, headers: auth, body: padded).status == 413)
        }
    }

    @Test("a server without admin tokens refuses a change with an unknown token (401); with no way to authenticate at all, with 403")
    func publishingDisabled() async throws {
        try await withServer(tokens: []) { server, _, _ in
            let answer = try await http(
                .POST, "\(server.baseURL)/api/v1/uploads/missing", headers: [("Authorization", "Bearer x")], body: Array("{\"digests\":[]}".utf8))
            #expect(answer.status == 401 && answer.errorMessage?.contains("token") == true)
        }
        try await withTemporaryDirectory { directory in
            let repository = try await DataDirectory(directory.path).openRepository(parameters: testParameters)
            try await MCloudsServer.withRunning(.init(port: 0), repository: repository, logger: Logger(label: "test")) { server in
                let answer = try await http(.POST, "\(server.baseURL)/api/v1/uploads/missing", body: Array("{\"digests\":[]}".utf8))
                #expect(answer.status == 403 && answer.errorMessage?.contains("admin token") == true)
            }
        }
    }

    @Test(
        "readers refuse a tampered manifest, a replayed catalog, an expired one, and one signed by an unknown key", arguments: TestDatabase.available)
    func trust(backend: TestDatabase) async throws {
        try await withServer(on: backend) { server, repository, directory in
            let client = RepositoryClient(baseURL: server.baseURL)
            _ = try await repository.publish(imageAt: try writeFile(bytes(50_000, seed: 6), in: directory), metadata: sampleMetadata())
            let verifier = repository.verifier
            let oldCatalog = try JSONDecoder().decode(SignedDocument<Catalog>.self, from: Data(try await client.signedCatalog()))
            _ = try await repository.publish(
                imageAt: try writeFile(bytes(50_000, seed: 7), in: directory), metadata: sampleMetadata("ubuntu-22.04", "2.0"))
            let newCatalog = try JSONDecoder().decode(SignedDocument<Catalog>.self, from: Data(try await client.signedCatalog()))
            let seen = try verifier.verifyCatalog(newCatalog, now: Date(), lastSerial: nil).serial
            let replay = #expect(throws: TemplateRepositoryError.self) { try verifier.verifyCatalog(oldCatalog, now: Date(), lastSerial: seen) }
            #expect(replay?.isTrustFailure == true && "\(replay!)".contains("replayed"))
            let expired = #expect(throws: TemplateRepositoryError.self) {
                try verifier.verifyCatalog(newCatalog, now: Date().addingTimeInterval(49 * 3600), lastSerial: nil)
            }
            #expect("\(expired!)".contains("expired"))
            let stranger = DocumentVerifier(trusted: [PublisherKey().publicKey])
            #expect(throws: TemplateRepositoryError.self) { try stranger.verifyCatalog(newCatalog, now: Date(), lastSerial: nil) }

            // A chunk altered on the server's disk is refused by the reader.
            let manifest = try await repository.manifest(name: "ubuntu-22.04", version: "1.0")
            let chunk = manifest.chunks[0]
            #expect(try await client.verifiedChunk(chunk.digest).count == chunk.length)
            var altered = try repository.chunks.get(chunk.digest)
            altered[0] ^= 0xFF
            try Data(altered).write(to: URL(fileURLWithPath: repository.chunks.path(for: chunk.digest)))
            let mismatch = await #expect(throws: TemplateRepositoryError.self) { try await client.verifiedChunk(chunk.digest) }
            #expect("\(mismatch!)".contains("does not match its digest"))

            let manifestBytes = try await client.signedManifest(name: "ubuntu-22.04", version: "1.0")
            var text = String(decoding: manifestBytes, as: UTF8.self)
            text = text.replacingOccurrences(of: "\"osType\":\"Ubuntu 22.04 LTS\"", with: "\"osType\":\"Windows 11\"")
            let tampered = try JSONDecoder().decode(SignedDocument<TemplateManifest>.self, from: Data(text.utf8))
            let refused = #expect(throws: TemplateRepositoryError.self) { try verifier.verifyManifest(tampered, now: Date()) }
            #expect("\(refused!)".contains("does not verify"))
            #expect(throws: (any Error).self) { try JSONDecoder().decode(SignedDocument<TemplateManifest>.self, from: Data("{\"signed\":".utf8)) }
        }
    }
}
