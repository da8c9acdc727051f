/// The part of a transformer a parameter belongs to.
///
/// Raw values use BERT's module names because that is the vocabulary of the papers this tool
/// reproduces; other families map onto the same slots by function: GPT-2's `ln_1` and LLaMA's
/// `input_layernorm` (the norm of the attention block) are ``attentionLayerNorm``, `ln_2` and
/// `post_attention_layernorm` (the norm of the feed-forward block) are ``outputLayerNorm``.
public enum Component: String, CaseIterable, Sendable, Codable, Comparable {
    /// Word, position and token-type embedding matrices (and ELECTRA's embedding projection).
    case embeddings = "embeddings"
    case embeddingsLayerNorm = "embeddings.LayerNorm"
    case query = "attention.self.query"
    case key = "attention.self.key"
    case value = "attention.self.value"
    /// A fused query/key/value projection (GPT-2 `c_attn`, `query_key_value`, `qkv_proj`).
    case fusedQKV = "attention.self.qkv"
    case attentionOutput = "attention.output.dense"
    case attentionLayerNorm = "attention.output.LayerNorm"
    /// The first feed-forward projection, hidden -> 4 x hidden.
    case intermediate = "intermediate.dense"
    /// LLaMA's gate projection of the gated feed-forward block.
    case intermediateGate = "intermediate.gate"
    /// The second feed-forward projection, 4 x hidden -> hidden.
    case output = "output.dense"
    case outputLayerNorm = "output.LayerNorm"
    /// A norm after the last layer (GPT-2 `ln_f`, LLaMA `norm`).
    case finalLayerNorm = "final.LayerNorm"
    case pooler = "pooler"
    /// A task head added for fine-tuning (`classifier`, `qa_outputs`, `score`, ...).
    case head = "head"
    /// Heads of the pretraining objective (`cls.predictions`, `lm_head`, ...).
    case pretrainingHead = "pretraining_head"
    case other = "other"

    /// Whether the component is a normalisation layer (LayerNorm or RMSNorm).
    public var isNorm: Bool {
        switch self {
        case .embeddingsLayerNorm, .attentionLayerNorm, .outputLayerNorm, .finalLayerNorm: return true
        default: return false
        }
    }

    /// The BitFit bias type of this component's bias vector, as used by `--select bias:TYPE,...`.
    public var biasType: String {
        switch self {
        case .embeddings: return "embeddings"
        case .embeddingsLayerNorm: return "embeddings_layernorm"
        case .query: return "query"
        case .key: return "key"
        case .value: return "value"
        case .fusedQKV: return "qkv"
        case .attentionOutput: return "attention_output"
        case .attentionLayerNorm: return "attention_layernorm"
        case .intermediate: return "intermediate"
        case .intermediateGate: return "gate"
        case .output: return "output"
        case .outputLayerNorm: return "output_layernorm"
        case .finalLayerNorm: return "final_layernorm"
        case .pooler: return "pooler"
        case .head: return "head"
        case .pretrainingHead: return "pretraining_head"
        case .other: return "other"
        }
    }

    /// Every bias type name, for help texts and validation.
    public static var biasTypes: [String] { allCases.map(\.biasType) }

    /// Order of the components inside a layer, bottom to top, for tables.
    public static func < (lhs: Component, rhs: Component) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// What kind of tensor a parameter is, which decides how fine-tuning methods treat it.
public enum ParameterKind: String, CaseIterable, Sendable, Codable, Comparable {
    case layerNormWeight = "layernorm_weight"
    case layerNormBias = "layernorm_bias"
    /// A bias vector of a linear layer.
    case bias = "bias"
    /// A weight matrix of a linear layer.
    case weight = "weight"
    case embedding = "embedding"
    /// Not trained: position ids, attention-mask buffers, rotary frequencies, integer tensors.
    case buffer = "buffer"

    /// LayerNorm weight or bias: what LayerNorm tuning trains.
    public var isLayerNorm: Bool { self == .layerNormWeight || self == .layerNormBias }
    /// Any bias, LayerNorm biases included: what BitFit trains.
    public var isBias: Bool { self == .bias || self == .layerNormBias }

    public static func < (lhs: ParameterKind, rhs: ParameterKind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
