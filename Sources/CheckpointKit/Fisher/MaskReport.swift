/// The `ckpt mask --json` summary of a mask file just written.
///
/// Fields: `output`, `format` (`ckpt-mask`), `keep` (the percentage, or null), `count` (entries
/// per group, or null), `scope`, `combine`, `sources` (the Fisher files), `kept`, `total`, and the
/// kept/total counts per tensor (`tensors`, each with `name`), per component (`components`, each
/// with `component`) and per layer (`layers`, each with `layer`). Written by ``JSONOutput`` like
/// every report.
public struct MaskReport: Encodable, Sendable {
    /// Kept entries of one group, under the group's own key (`name`, `component` or `layer`).
    public struct Group: Encodable, Sendable {
        public var key: String
        public var count: MaskCount

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: JSONKey.self)
            try c.encode(count.name, forKey: JSONKey(key))
            try c.encode(count.kept, forKey: JSONKey("kept"))
            try c.encode(count.total, forKey: JSONKey("total"))
        }
    }

    public var output: String
    public var format = "ckpt-mask"
    /// Percentage of entries kept, for a `.percent` selection.
    @ExplicitNull public var keep: Double? = nil
    /// Entries kept per group, for a `.count` selection.
    @ExplicitNull public var count: Int? = nil
    public var scope: String
    public var combine: String
    public var sources: [String]
    public var kept: Int
    public var total: Int
    public var tensors: [Group]
    public var components: [Group]
    public var layers: [Group]

    public init(_ mask: FisherMask, output: String) {
        self.output = output
        switch mask.options.selection {
        case let .percent(p): keep = p
        case let .count(k): count = k
        }
        scope = mask.options.scope.rawValue
        combine = mask.options.combination.rawValue
        sources = mask.sources
        kept = mask.keptCount
        total = mask.totalCount
        tensors = mask.perTensor.map { Group(key: "name", count: $0) }
        components = mask.perComponent.map { Group(key: "component", count: $0) }
        layers = mask.perLayer.map { Group(key: "layer", count: $0) }
    }
}
