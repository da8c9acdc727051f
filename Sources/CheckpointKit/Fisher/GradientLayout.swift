/// Where each chosen parameter's entries sit in a per-example gradient vector.
struct GradientLayout {
    let parameters: [BertParameter]
    let offsets: [BertParameter: Int]
    let counts: [BertParameter: Int]
    let total: Int
    /// The lowest encoder layer whose parameters are wanted, or -1 for the embeddings LayerNorm.
    let lowestLayer: Int

    init(model: BertEncoder, parameters: [BertParameter]) {
        self.parameters = parameters
        var offsets: [BertParameter: Int] = [:], counts: [BertParameter: Int] = [:]
        var total = 0
        var lowest = Int.max
        for p in parameters {
            offsets[p] = total
            counts[p] = model.elementCount(of: p)
            total += counts[p]!
            switch p {
            case .embeddingsNorm, .embeddingsProjectionBias: lowest = -1
            default: if let l = p.layer { lowest = min(lowest, l) }
            }
        }
        self.offsets = offsets
        self.counts = counts
        self.total = total
        lowestLayer = lowest
    }
}
