/// Counts recorded in the `counts` key.
public struct PatchCounts: Sendable, Equatable, Codable {
    /// Touched tensors stored dense, sparse, and new (only in the fine-tune).
    public var dense = 0
    public var sparse = 0
    public var new = 0
    /// Values stored: dense and new tensors' element counts plus sparse entries.
    public var entries = 0
    /// Entries that differ from the base (new tensors count whole).
    public var changed = 0
    /// Tensors in the base the patch was made for.
    public var baseTensors = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case dense, sparse, new, entries, changed
        case baseTensors = "base_tensors"
    }
}
