/// Runs `body` for every element, at most `limit` at once, and returns the results in the elements' order.
/// For fan-outs over many remote systems (regions, installations) where each call handles its own errors.
public func concurrentMap<Element: Sendable, Result: Sendable>(
    _ elements: [Element], limit: Int, _ body: @escaping @Sendable (Element) async -> Result
) async -> [Result] {
    await withTaskGroup(of: (Int, Result).self) { group in
        var results = [Result?](repeating: nil, count: elements.count)
        var next = 0
        func startNext() {
            guard next < elements.count else { return }
            let index = next
            let element = elements[index]
            next += 1
            group.addTask { (index, await body(element)) }
        }
        for _ in 0..<max(1, limit) { startNext() }
        for await (index, result) in group {
            results[index] = result
            startNext()
        }
        return results.map { $0! }
    }
}
