/// Kept counts of one group of entries (a tensor, a component or a layer).
public struct MaskCount: Sendable, Equatable {
    public var name: String
    public var kept: Int
    public var total: Int

    public var keptPercent: Double { total == 0 ? 0 : 100 * Double(kept) / Double(total) }
}
