import Foundation

/// Writes the Prometheus text exposition format (version 0.0.4) for figures computed at scrape time:
/// every family with its `# HELP` and `# TYPE`, label values escaped, families in the order added.
///
/// ```swift
/// var text = PrometheusText()
/// text.gauge("mclouds_region_up", help: "1 when the region answered its last collection.", [(["region": "A"], 1)])
/// let body = text.rendered
/// ```
public struct PrometheusText: Sendable {
    public enum Kind: String, Sendable {
        case gauge, counter
    }

    private var families: [(name: String, kind: Kind, help: String, samples: [(labels: [(String, String)], value: Double)])] = []

    public init() {}

    /// Adds a family (merged with an earlier one of the same name).
    public mutating func add(_ name: String, _ kind: Kind, help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
        if let index = families.firstIndex(where: { $0.name == name }) {
            families[index].samples += samples
        } else {
            families.append((name, kind, help, samples))
        }
    }

    /// Adds a gauge family.
    public mutating func gauge(_ name: String, help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
        add(name, .gauge, help: help, samples)
    }

    /// Adds a gauge with one sample.
    public mutating func gauge(_ name: String, help: String, labels: [(String, String)] = [], _ value: Double) {
        add(name, .gauge, help: help, [(labels, value)])
    }

    /// The exposition text.
    public var rendered: String {
        var out = ""
        for family in families {
            out += "# HELP \(family.name) \(Self.escapeHelp(family.help))\n# TYPE \(family.name) \(family.kind.rawValue)\n"
            for sample in family.samples {
                out += family.name
                if !sample.labels.isEmpty {
                    out += "{" + sample.labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
                }
                out += " \(Self.format(sample.value))\n"
            }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    static func escapeLabel(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func escapeHelp(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}
