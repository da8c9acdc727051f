/// The parameters Fisher information can be computed for: every LayerNorm weight and bias and
/// every bias of a `BertForSequenceClassification`.
public enum BertParameter: Hashable, Sendable {
    case embeddingsNorm(bias: Bool)
    /// ELECTRA's `embeddings_project` bias (only when the embedding size differs from the hidden size).
    case embeddingsProjectionBias
    case attentionNorm(layer: Int, bias: Bool)
    case outputNorm(layer: Int, bias: Bool)
    case queryBias(layer: Int)
    case keyBias(layer: Int)
    case valueBias(layer: Int)
    case attentionOutputBias(layer: Int)
    case intermediateBias(layer: Int)
    case outputBias(layer: Int)
    case poolerBias
    case classifierBias

    /// Whether this is a LayerNorm parameter (weight or bias).
    public var isLayerNorm: Bool {
        switch self {
        case .embeddingsNorm, .attentionNorm, .outputNorm: return true
        default: return false
        }
    }

    /// Whether this is a bias vector (LayerNorm biases included).
    public var isBias: Bool {
        switch self {
        case let .embeddingsNorm(bias), let .attentionNorm(_, bias), let .outputNorm(_, bias): return bias
        default: return true
        }
    }

    /// The encoder layer the parameter belongs to, if any.
    public var layer: Int? {
        switch self {
        case let .attentionNorm(l, _), let .outputNorm(l, _), let .queryBias(l), let .keyBias(l), let .valueBias(l),
             let .attentionOutputBias(l), let .intermediateBias(l), let .outputBias(l):
            return l
        default: return nil
        }
    }

    /// The name `BertForSequenceClassification` gives the parameter, without the `bert.` prefix
    /// (the classifier has none). For ELECTRA the head's biases are `classifier.dense.bias`
    /// (``poolerBias``) and `classifier.out_proj.bias` (``classifierBias``); ``BertEncoder/name(of:)``
    /// gives the names a checkpoint actually uses.
    public var canonicalName: String {
        func wb(_ bias: Bool) -> String { bias ? "bias" : "weight" }
        switch self {
        case let .embeddingsNorm(b): return "embeddings.LayerNorm.\(wb(b))"
        case .embeddingsProjectionBias: return "embeddings_project.bias"
        case let .attentionNorm(l, b): return "encoder.layer.\(l).attention.output.LayerNorm.\(wb(b))"
        case let .outputNorm(l, b): return "encoder.layer.\(l).output.LayerNorm.\(wb(b))"
        case let .queryBias(l): return "encoder.layer.\(l).attention.self.query.bias"
        case let .keyBias(l): return "encoder.layer.\(l).attention.self.key.bias"
        case let .valueBias(l): return "encoder.layer.\(l).attention.self.value.bias"
        case let .attentionOutputBias(l): return "encoder.layer.\(l).attention.output.dense.bias"
        case let .intermediateBias(l): return "encoder.layer.\(l).intermediate.dense.bias"
        case let .outputBias(l): return "encoder.layer.\(l).output.dense.bias"
        case .poolerBias: return "pooler.dense.bias"
        case .classifierBias: return "classifier.bias"
        }
    }

    /// Every parameter of a model with `layers` encoder layers, bottom to top.
    public static func all(layers: Int, embeddingProjection: Bool = false) -> [BertParameter] {
        var out: [BertParameter] = [.embeddingsNorm(bias: false), .embeddingsNorm(bias: true)]
        if embeddingProjection { out.append(.embeddingsProjectionBias) }
        for l in 0..<layers {
            out += [.queryBias(layer: l), .keyBias(layer: l), .valueBias(layer: l), .attentionOutputBias(layer: l),
                    .attentionNorm(layer: l, bias: false), .attentionNorm(layer: l, bias: true),
                    .intermediateBias(layer: l), .outputBias(layer: l),
                    .outputNorm(layer: l, bias: false), .outputNorm(layer: l, bias: true)]
        }
        return out + [.poolerBias, .classifierBias]
    }
}
