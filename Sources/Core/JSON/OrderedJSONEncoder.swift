import Foundation

/// Encodes any `Encodable` into a ``JSONValue`` keeping keys in the order the type encodes them.
///
/// Synthesized `Encodable` conformances encode properties in declaration order, so a model declared
/// in CloudStack's field order serializes in that order. `nil` optionals are omitted (as Gson does).
///
/// ```swift
/// let value = try OrderedJSONEncoder().encode(zone)
/// ```
public struct OrderedJSONEncoder: Sendable {
    public init() {}

    /// Encodes `value`.
    /// - Throws: `EncodingError` when the value cannot be represented (a non-finite double, say).
    public func encode(_ value: some Encodable) throws -> JSONValue {
        let encoder = TreeEncoder(codingPath: [])
        try value.encode(to: encoder)
        return encoder.storage.value ?? .object([])
    }
}

/// A mutable node that containers write into; turned into a `JSONValue` at the end.
/// Members are appended in order (synthesized encoders never write a key twice).
final class Node {
    enum Kind { case empty, value, object, array }

    var kind: Kind = .empty
    var scalar: JSONValue = .null
    var keys: [String] = []
    var children: [Node] = []

    var value: JSONValue? {
        switch kind {
        case .empty: return nil
        case .value: return scalar
        case .object:
            var members: [(String, JSONValue)] = []
            members.reserveCapacity(keys.count)
            for (k, child) in zip(keys, children) {
                if let v = child.value { members.append((k, v)) }
            }
            return .object(members)
        case .array: return .array(children.map { $0.value ?? .null })
        }
    }

    func set(_ value: JSONValue) {
        kind = .value
        scalar = value
    }

    func appendMember(_ key: String) -> Node {
        kind = .object
        let child = Node()
        keys.append(key)
        children.append(child)
        return child
    }

    func appendElement() -> Node {
        kind = .array
        let child = Node()
        children.append(child)
        return child
    }
}

struct TreeEncoder: Encoder {
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    let storage: Node

    init(codingPath: [any CodingKey], storage: Node = Node()) {
        self.codingPath = codingPath
        self.storage = storage
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if storage.kind != .object { storage.kind = .object }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: storage, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if storage.kind != .array { storage.kind = .array }
        return UnkeyedContainer(node: storage, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(node: storage, codingPath: codingPath)
    }

    static func primitive(_ value: some Encodable, path: [any CodingKey]) throws -> JSONValue? {
        switch value {
        case let v as JSONValue: return v
        case let v as String: return .string(v)
        case let v as Bool: return .bool(v)
        case let v as Int: return .int(Int64(v))
        case let v as Int64: return .int(v)
        case let v as Int32: return .int(Int64(v))
        case let v as UInt64: return .int(Int64(v))
        case let v as UInt: return .int(Int64(v))
        case let v as Double:
            guard v.isFinite else {
                throw EncodingError.invalidValue(v, .init(codingPath: path, debugDescription: "JSON has no non-finite numbers"))
            }
            return .double(v)
        case let v as Float: return .double(Double(v))
        case let v as URL: return .string(v.absoluteString)
        default: return nil
        }
    }

    static func encodeValue(_ value: some Encodable, into node: Node, path: [any CodingKey]) throws {
        if let primitive = try primitive(value, path: path) {
            node.set(primitive)
        } else {
            try value.encode(to: TreeEncoder(codingPath: path, storage: node))
        }
    }
}

struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    var codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws {
        node.appendMember(key.stringValue).set(.null)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try TreeEncoder.encodeValue(value, into: node.appendMember(key.stringValue), path: codingPath + [key])
    }

    // Concrete overloads: the common scalars skip the dynamic-cast path of the generic method.
    mutating func encode(_ value: String, forKey key: Key) throws { node.appendMember(key.stringValue).set(.string(value)) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { node.appendMember(key.stringValue).set(.bool(value)) }
    mutating func encode(_ value: Int, forKey key: Key) throws { node.appendMember(key.stringValue).set(.int(Int64(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { node.appendMember(key.stringValue).set(.int(value)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let child = node.appendMember(key.stringValue)
        child.kind = .object
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = node.appendMember(key.stringValue)
        child.kind = .array
        return UnkeyedContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        TreeEncoder(codingPath: codingPath, storage: node.appendMember("super"))
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        TreeEncoder(codingPath: codingPath + [key], storage: node.appendMember(key.stringValue))
    }
}

struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: Node
    var codingPath: [any CodingKey]
    var count: Int { node.children.count }

    mutating func encodeNil() throws {
        node.appendElement().set(.null)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try TreeEncoder.encodeValue(value, into: node.appendElement(), path: codingPath + [AnyCodingKey(intValue: count)!])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = node.appendElement()
        child.kind = .object
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = node.appendElement()
        child.kind = .array
        return UnkeyedContainer(node: child, codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder {
        TreeEncoder(codingPath: codingPath, storage: node.appendElement())
    }
}

struct SingleContainer: SingleValueEncodingContainer {
    let node: Node
    var codingPath: [any CodingKey]

    mutating func encodeNil() throws {
        node.set(.null)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try TreeEncoder.encodeValue(value, into: node, path: codingPath)
    }
}
