/// Sizes for content-defined chunking: no chunk is shorter than `minimum` (except the last) or longer
/// than `maximum`, and cuts fall on average about `average` bytes past the minimum.
public struct ChunkingParameters: Sendable, Hashable, Codable {
    public var minimum: Int
    public var average: Int
    public var maximum: Int

    /// Parameters with `minimum ≤ average ≤ maximum`; `average` must be a power of two.
    /// - Throws: ``TemplateRepositoryError`` when the sizes are out of order or `average` is not a power of two.
    public init(minimum: Int, average: Int, maximum: Int) throws {
        guard minimum > 0, minimum <= average, average <= maximum, average.nonzeroBitCount == 1, average >= 256 else {
            throw TemplateRepositoryError.invalidChunking(minimum: minimum, average: average, maximum: maximum)
        }
        self.minimum = minimum
        self.average = average
        self.maximum = maximum
    }

    /// 256 KiB / 1 MiB / 4 MiB: large enough that a 20 GiB image has ~16,000 chunks (small index, few
    /// HTTP requests), small enough that a 1 % scattered change re-ships little.
    public static let standard = try! ChunkingParameters(minimum: 256 << 10, average: 1 << 20, maximum: 4 << 20)
}
