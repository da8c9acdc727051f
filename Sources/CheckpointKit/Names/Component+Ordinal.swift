extension Component {
    /// The component's position in ``allCases`` (bottom to top), found without its raw value.
    ///
    /// `Component` is `RawRepresentable`, whose default `==` and `hash(into:)` would go through
    /// ``rawValue`` (the ``names`` table: four strings built per call); its `==`, `hash(into:)` and
    /// `<` use this number instead, and tallies over 100,000 tensors (`CheckpointSummary`,
    /// `DifferenceGroups`) index arrays by it.
    var ordinal: Int {
        switch self {
        case .embeddings: return 0
        case .embeddingsLayerNorm: return 1
        case .query: return 2
        case .key: return 3
        case .value: return 4
        case .fusedQKV: return 5
        case .attentionOutput: return 6
        case .attentionLayerNorm: return 7
        case .intermediate: return 8
        case .intermediateGate: return 9
        case .output: return 10
        case .outputLayerNorm: return 11
        case .finalLayerNorm: return 12
        case .pooler: return 13
        case .head: return 14
        case .pretrainingHead: return 15
        case .other: return 16
        }
    }
}
