import Core

/// The one-key `{"<command>response": …}` wrapper of every CloudStack answer.
struct Envelope<Inner: Decodable>: Decodable {
    let key: String
    let inner: Inner

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        guard let key = container.allKeys.first, container.allKeys.count == 1 else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "expected one <command>response key, found \(container.allKeys.map(\.stringValue))"))
        }
        self.key = key.stringValue
        self.inner = try container.decode(Inner.self, forKey: key)
    }
}

/// The error fields that may appear inside an envelope.
struct ErrorProbe: Decodable {
    let errorcode: Int?
    let cserrorcode: Int?
    let errortext: String?
}

/// A page of a list answer: `count` and the array under the object name (`zone`, `virtualmachine`, …).
/// The empty list `{}` decodes as no items and count 0.
public struct ListPage<Item: Decodable>: Decodable {
    /// The total number of matches on the server (not the page length).
    public let count: Int
    /// The items of this page.
    public let items: [Item]

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        var items: [Item] = []
        for key in container.allKeys where key.stringValue != "count" {
            if let decoded = try? container.decode([Item].self, forKey: key) {
                items = decoded
                break
            }
        }
        self.items = items
        self.count = try container.decodeIfPresent(Int.self, forKey: AnyCodingKey("count")) ?? items.count
    }
}

/// The single object of a create/update answer, under whatever object name (`{"account":{…}}`).
struct SingleObject<Item: Decodable>: Decodable {
    let item: Item

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        guard let key = container.allKeys.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "empty object"))
        }
        self.item = try container.decode(Item.self, forKey: key)
    }
}

/// The immediate answer of an async command: `jobid`, plus `id` for create-style commands.
public struct AsyncSubmission: Decodable, Sendable, Hashable {
    /// The new object's id (create-style commands only).
    public let id: String?
    /// The job to poll with `queryAsyncJobResult`.
    public let jobid: String
}
