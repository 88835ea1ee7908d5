import AsyncHTTPClient
import CloudStack
import Core
import Foundation
import Logging
import Synchronization
import Testing

@Suite("JSON log lines")
struct JSONLogTests {
    @Test("each event is one JSON object per line with time, level, label, component, message and the metadata as fields (numbers as numbers)")
    func lines() throws {
        let lines = Mutex<[String]>([])
        var handler = JSONLogHandler(label: "mclouds.agent") { line in lines.withLock { $0.append(line) } }
        handler.logLevel = .info
        handler[metadataKey: "site"] = "MECA-TUS"
        let logger = Logger(label: "mclouds.agent") { _ in handler }
        logger.info(
            "template synced",
            metadata: [
                "template": "ubuntu", "version": "2026.11", "bytes": .stringConvertible(1234), "seconds": .stringConvertible(1.5),
                "duration": .stringConvertible(Duration.milliseconds(250)), "zones": ["a", "b"],
            ])
        logger.debug("not shown at info")
        let written = lines.withLock { $0 }
        #expect(written.count == 1 && written[0].hasSuffix("\n") && !written[0].dropLast().contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: Any])
        #expect(object["level"] as? String == "info" && object["label"] as? String == "mclouds.agent")
        #expect(object["message"] as? String == "template synced" && object["site"] as? String == "MECA-TUS")
        #expect(object["template"] as? String == "ubuntu" && object["version"] as? String == "2026.11")
        // Numbers stay numbers; a duration is its seconds; the component is the module that logged.
        #expect(object["bytes"] as? Int == 1234 && object["seconds"] as? Double == 1.5 && object["duration"] as? Double == 0.25)
        #expect(object["component"] as? String == "CloudStackTests")
        #expect(object["zones"] as? [String] == ["a", "b"])
        #expect((object["time"] as? String)?.hasSuffix("Z") == true)
    }
}

@Suite("Network failures in words")
struct NetworkProblemTests {
    @Test("a refused connection and a bad URL are described without library internals")
    func words() async throws {
        let client = CloudStackClient(configuration: .init(endpoint: "http://127.0.0.1:9/client/api", apiKey: "K", secretKey: "S"))
        var configuration = client.configuration
        configuration.maxAttempts = 1
        let refused = await #expect(throws: CloudStackError.self) {
            try await CloudStackClient(configuration: configuration).listZones(logger: Logger(label: "test"))
        }
        let text = refused.map { "\($0)" } ?? ""
        #expect(text.contains("connection refused: nothing listens there"), "\(text)")
        #expect(!text.contains("errno") && !text.contains("HTTPClientError") && !text.contains("NIO"), "\(text)")
        #expect(NetworkProblem.describe(HTTPClientError.invalidURL) == "it is not an http(s) URL such as http://host:8080")
    }
}
