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

    /// 16 KiB / 128 KiB / 512 KiB, chosen by `mclouds bench chunking` (BENCHMARKS.md): the largest average
    /// measured that keeps a 5 % scattered change with shifting insertions under 10 % re-shipped (7.75 %),
    /// at half the chunk count (index size, HTTP requests) of a 64 KiB average.
    public static let standard = try! ChunkingParameters(minimum: 16 << 10, average: 128 << 10, maximum: 512 << 10)
}
