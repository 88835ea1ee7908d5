/// "Did you mean …?" for names a user typed: the closest known name by edit distance, when it is close.
public enum Suggestion {
    /// The candidate nearest to `typed` (case-insensitive Levenshtein distance), if within a third of its length (at least 2).
    public static func closest(to typed: String, among candidates: some Sequence<String>) -> String? {
        let target = Array(typed.lowercased())
        var best: (name: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(target, Array(candidate.lowercased()))
            if distance < (best?.distance ?? .max) { best = (candidate, distance) }
        }
        guard let best, best.distance <= max(2, target.count / 3) else { return nil }
        return best.name
    }

    /// `" (did you mean X?)"`, or an empty string when nothing is close.
    public static func didYouMean(_ typed: String, among candidates: some Sequence<String>) -> String {
        closest(to: typed, among: candidates).map { " (did you mean \($0)?)" } ?? ""
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
