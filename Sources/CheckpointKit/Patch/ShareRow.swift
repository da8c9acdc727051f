/// One group of the "kept and dropped" report: how much of the fine-tune's change (sum of squared
/// deltas) the patch keeps.
public struct ShareRow: Sendable, Encodable, Equatable {
    public var group: String
    /// Tensors of the group that differ from the base.
    public var changedTensors = 0
    /// Entries that differ from the base, and how many of them the patch keeps.
    public var changedEntries = 0
    public var keptEntries = 0
    /// Sum over changed entries of (fine-tuned - base)^2, and its kept and dropped parts.
    public var sumSquares: Double = 0
    public var keptSumSquares: Double = 0
    public var droppedSumSquares: Double = 0

    public init(group: String) { self.group = group }

    /// Share of the group's sum of squared change the patch keeps (1 when nothing changed).
    public var keptShare: Double { sumSquares > 0 ? keptSumSquares / sumSquares : (changedEntries == keptEntries ? 1 : 0) }
    public var droppedShare: Double { sumSquares > 0 ? droppedSumSquares / sumSquares : (changedEntries == keptEntries ? 0 : 1) }

    enum CodingKeys: String, CodingKey {
        case group
        case changedTensors = "changed_tensors"
        case changedEntries = "changed_entries"
        case keptEntries = "kept_entries"
        case sumSquares = "sum_sq_delta"
        case keptSumSquares = "kept_sum_sq_delta"
        case droppedSumSquares = "dropped_sum_sq_delta"
        case keptShare = "kept_share"
        case droppedShare = "dropped_share"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(group, forKey: .group)
        try c.encode(changedTensors, forKey: .changedTensors)
        try c.encode(changedEntries, forKey: .changedEntries)
        try c.encode(keptEntries, forKey: .keptEntries)
        try c.encode(sumSquares, forKey: .sumSquares)
        try c.encode(keptSumSquares, forKey: .keptSumSquares)
        try c.encode(droppedSumSquares, forKey: .droppedSumSquares)
        try c.encode(keptShare, forKey: .keptShare)
        try c.encode(droppedShare, forKey: .droppedShare)
    }

    mutating func add(_ other: ShareRow) {
        changedTensors += other.changedTensors
        changedEntries += other.changedEntries
        keptEntries += other.keptEntries
        sumSquares += other.sumSquares
        keptSumSquares += other.keptSumSquares
        droppedSumSquares += other.droppedSumSquares
    }
}
