/// Counts recorded in the `counts` key.
public struct PatchCounts: Sendable, Equatable, Codable {
    /// Touched tensors stored dense, sparse, and new (only in the fine-tune).
    public var dense = 0
    public var sparse = 0
    public var new = 0
    /// Touched tensors stored resized (version 2; left out of the JSON when 0).
    public var resized = 0
    /// Values stored: dense and new tensors' element counts plus sparse entries.
    public var entries = 0
    /// Entries that differ from the base (new tensors count whole).
    public var changed = 0
    /// Tensors in the base the patch was made for.
    public var baseTensors = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case dense, sparse, new, entries, changed, resized
        case baseTensors = "base_tensors"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dense = try c.decode(Int.self, forKey: .dense)
        sparse = try c.decode(Int.self, forKey: .sparse)
        new = try c.decode(Int.self, forKey: .new)
        resized = try c.decodeIfPresent(Int.self, forKey: .resized) ?? 0
        entries = try c.decode(Int.self, forKey: .entries)
        changed = try c.decode(Int.self, forKey: .changed)
        baseTensors = try c.decode(Int.self, forKey: .baseTensors)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dense, forKey: .dense)
        try c.encode(sparse, forKey: .sparse)
        try c.encode(new, forKey: .new)
        if resized > 0 { try c.encode(resized, forKey: .resized) }
        try c.encode(entries, forKey: .entries)
        try c.encode(changed, forKey: .changed)
        try c.encode(baseTensors, forKey: .baseTensors)
    }
}
