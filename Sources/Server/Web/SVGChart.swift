import Core
import Foundation

/// Line charts as inline SVG (no script, no external resource): one or more series over time.
enum SVGChart {
    struct Series {
        var name: String
        var color: String
        var values: [Double]
    }

    /// - Parameters:
    ///   - labels: one per point (times), the first and last are printed under the axis.
    ///   - maximum: the top of the scale (e.g. 100 for percentages); nil scales to the data.
    ///   - stale: per point, whether some figures in it were old (a region not read): such points are drawn on an
    ///     amber band with hollow markers, never as live figures.
    static func line(
        title: String, series: [Series], labels: [String], maximum: Double?, unit: String, stale: [Bool] = [], width: Int = 560, height: Int = 180
    ) -> String {
        let left = 64.0
        let right = 8.0
        let top = 12.0
        let bottom = 28.0
        let plotWidth = Double(width) - left - right
        let plotHeight = Double(height) - top - bottom
        let dataMax = series.flatMap(\.values).max() ?? 0
        let scale = max(maximum ?? niceCeiling(dataMax), 1)
        var svg = """
            <svg class="chart" viewBox="0 0 \(width) \(height)" role="img" aria-label="\(escape(title))" preserveAspectRatio="xMidYMid meet">
            <title>\(escape(title))</title>
            """
        for step in 0...4 {
            let value = scale * Double(step) / 4
            let y = top + plotHeight - plotHeight * Double(step) / 4
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y))\" class=\"grid\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" class=\"axis\" text-anchor=\"end\">\(format(value))\(unit)</text>"
        }
        let count = labels.count
        if count == 0 {
            svg +=
                "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top + plotHeight / 2))\" class=\"axis\" text-anchor=\"middle\">no collections yet</text>"
        }
        func x(_ i: Int) -> Double { count <= 1 ? left + plotWidth / 2 : left + plotWidth * Double(i) / Double(count - 1) }
        let step = count <= 1 ? plotWidth : plotWidth / Double(count - 1)
        for (i, isStale) in stale.enumerated() where isStale && i < count {
            let bandLeft = max(left, x(i) - step / 2)
            let bandRight = min(left + plotWidth, x(i) + step / 2)
            svg +=
                "<rect class=\"stale\" x=\"\(f(bandLeft))\" y=\"\(f(top))\" width=\"\(f(max(2, bandRight - bandLeft)))\" height=\"\(f(plotHeight))\"/>"
        }
        for s in series where !s.values.isEmpty {
            let points = s.values.enumerated().map { i, v in "\(f(x(i))),\(f(top + plotHeight - plotHeight * min(v, scale) / scale))" }
            if points.count == 1 {
                let xy = points[0].split(separator: ",")
                svg += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\" fill=\"\(s.color)\"/>"
            } else {
                svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>"
            }
            for (i, point) in points.enumerated() where i < stale.count && stale[i] {
                let xy = point.split(separator: ",")
                svg +=
                    "<circle class=\"stale-point\" cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"4\" fill=\"#fff\" stroke=\"\(s.color)\" stroke-width=\"2\"/>"
            }
        }
        if let first = labels.first, let last = labels.last {
            svg += "<text x=\"\(f(left))\" y=\"\(height - 8)\" class=\"axis\">\(escape(first))</text>"
            if count > 1 { svg += "<text x=\"\(f(left + plotWidth))\" y=\"\(height - 8)\" class=\"axis\" text-anchor=\"end\">\(escape(last))</text>" }
        }
        return svg + "</svg>"
    }

    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let magnitude = pow(10, floor(log10(value)))
        for factor in [1.0, 2, 2.5, 5, 10] where factor * magnitude >= value { return factor * magnitude }
        return 10 * magnitude
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String { text.xmlEscaped }
}
