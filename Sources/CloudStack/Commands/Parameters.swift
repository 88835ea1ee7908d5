/// Builds a CloudStack parameter dictionary, skipping absent optional values.
public struct Parameters: Sendable, ExpressibleByDictionaryLiteral {
    /// The parameters as sent.
    public private(set) var values: [String: String]

    public init(dictionaryLiteral elements: (String, String)...) {
        values = Dictionary(elements, uniquingKeysWith: { $1 })
    }

    /// Sets `name` when `value` is present.
    public subscript(name: String) -> String? {
        get { values[name] }
        set { values[name] = newValue }
    }

    /// Sets `name` to a boolean (`true`/`false`) when present.
    public mutating func set(_ name: String, _ value: Bool?) {
        if let value { values[name] = value ? "true" : "false" }
    }

    /// Sets `name` to an integer when present.
    public mutating func set(_ name: String, _ value: Int?) {
        if let value { values[name] = String(value) }
    }

    /// Sets `name` to a comma-separated list when non-empty.
    public mutating func set(_ name: String, list: [String]?) {
        if let list, !list.isEmpty { values[name] = list.joined(separator: ",") }
    }

    /// Sets a map parameter the CloudStack way: `name[0].key=k&name[0].value=v`.
    public mutating func set(_ name: String, tags: [ResourceTag]) {
        for (i, tag) in tags.enumerated() {
            values["\(name)[\(i)].key"] = tag.key ?? ""
            values["\(name)[\(i)].value"] = tag.value ?? ""
        }
    }

    /// Sets a details-style map parameter: `name[0].key=value`.
    public mutating func set(_ name: String, details: [String: String]) {
        for (i, key) in details.keys.sorted().enumerated() {
            values["\(name)[\(i)].\(key)"] = details[key]
        }
    }
}
