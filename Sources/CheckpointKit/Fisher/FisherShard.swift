/// Which examples one part of a split Fisher run covers: those whose index (0-based, in data-file
/// order, among the examples the run uses) is `index` modulo `count`, so every shard sees the same
/// mix of the data.
public struct FisherShard: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// K, in `0..<count`.
    public let index: Int
    /// N, at least 1.
    public let count: Int

    /// At most one shard per example a run can read (``TaskDataset/maxExamples``).
    public static let maxCount = TaskDataset.maxExamples

    public init(index: Int, count: Int) throws(FisherShardError) {
        guard count >= 1 else { throw .invalidShard("\(index)/\(count)", reason: "the number of shards must be at least 1") }
        guard count <= Self.maxCount else { throw .invalidShard("\(index)/\(count)", reason: "the number of shards must be at most \(Self.maxCount)") }
        guard (0..<count).contains(index) else {
            throw .invalidShard("\(index)/\(count)", reason: "the shard index must be in 0..<\(count) (shards are numbered from 0)")
        }
        self.index = index
        self.count = count
    }

    /// Parses `K/N`.
    public init(parsing text: String) throws(FisherShardError) {
        let fields = text.split(separator: "/", omittingEmptySubsequences: false)
        guard fields.count == 2, let k = Int(fields[0]), let n = Int(fields[1]) else {
            throw .invalidShard(text, reason: "expected K/N, e.g. 0/4 for the first of four shards")
        }
        try self.init(index: k, count: n)
    }

    /// `K/N`.
    public var description: String { "\(index)/\(count)" }

    /// Whether the example at `position` belongs to this shard.
    public func includes(_ position: Int) -> Bool { position % count == index }

    /// How many of `total` examples this shard covers.
    public func exampleCount(of total: Int) -> Int {
        total > index ? (total - index + count - 1) / count : 0
    }
}
