/// The part of a transformer a parameter belongs to.
///
/// Every name a component goes by is in one table, ``names``. Its ``rawValue`` (what JSON reports
/// and group keys use) is BERT's module name, because that is the vocabulary of the papers this tool
/// reproduces; other families map onto the same slots by function: GPT-2's `ln_1` and LLaMA's
/// `input_layernorm` (the norm of the attention block) are ``attentionLayerNorm``, `ln_2` and
/// `post_attention_layernorm` (the norm of the feed-forward block) are ``outputLayerNorm``.
public enum Component: CaseIterable, Sendable, Comparable {
    /// Word, position and token-type embedding matrices (and ELECTRA's embedding projection).
    case embeddings
    case embeddingsLayerNorm
    case query
    case key
    case value
    /// A fused query/key/value projection (GPT-2 `c_attn`, `query_key_value`, `qkv_proj`).
    case fusedQKV
    case attentionOutput
    case attentionLayerNorm
    /// The first feed-forward projection, hidden -> 4 x hidden.
    case intermediate
    /// LLaMA's gate projection of the gated feed-forward block.
    case intermediateGate
    /// The second feed-forward projection, 4 x hidden -> hidden.
    case output
    case outputLayerNorm
    /// A norm after the last layer (GPT-2 `ln_f`, LLaMA `norm`).
    case finalLayerNorm
    case pooler
    /// A task head added for fine-tuning (`classifier`, `qa_outputs`, `score`, ...).
    case head
    /// Heads of the pretraining objective (`cls.predictions`, `lm_head`, ...).
    case pretrainingHead
    case other

    /// The table of names: one row per component, every label any report prints.
    public var names: ComponentNames {
        switch self {
        case .embeddings:
            return .init("embeddings", bias: "embeddings", label: "embeddings", short: "emb")
        case .embeddingsLayerNorm:
            return .init("embeddings.LayerNorm", bias: "embeddings_layernorm", label: "embeddings LayerNorm", short: "emb.LN")
        case .query:
            return .init("attention.self.query", bias: "query", label: "query", short: "query")
        case .key:
            return .init("attention.self.key", bias: "key", label: "key", short: "key")
        case .value:
            return .init("attention.self.value", bias: "value", label: "value", short: "value")
        case .fusedQKV:
            return .init("attention.self.qkv", bias: "qkv", label: "fused QKV", short: "qkv")
        case .attentionOutput:
            return .init("attention.output.dense", bias: "attention_output", label: "attention-output dense", short: "attn.out")
        case .attentionLayerNorm:
            return .init("attention.output.LayerNorm", bias: "attention_layernorm", label: "attention-output LayerNorm", short: "attn.LN")
        case .intermediate:
            return .init("intermediate.dense", bias: "intermediate", label: "intermediate", short: "interm.")
        case .intermediateGate:
            return .init("intermediate.gate", bias: "gate", label: "intermediate gate", short: "gate")
        case .output:
            return .init("output.dense", bias: "output", label: "output dense", short: "output")
        case .outputLayerNorm:
            return .init("output.LayerNorm", bias: "output_layernorm", label: "output LayerNorm", short: "out.LN")
        case .finalLayerNorm:
            return .init("final.LayerNorm", bias: "final_layernorm", label: "final LayerNorm", short: "final.LN")
        case .pooler:
            return .init("pooler", bias: "pooler", label: "pooler", short: "pooler")
        case .head:
            return .init("head", bias: "head", label: "head", short: "head")
        case .pretrainingHead:
            return .init("pretraining_head", bias: "pretraining_head", label: "pretraining head", short: "pt.head")
        case .other:
            return .init("other", bias: "other", label: "other", short: "other")
        }
    }

    /// Whether the component is a normalisation layer (LayerNorm or RMSNorm).
    public var isNorm: Bool {
        switch self {
        case .embeddingsLayerNorm, .attentionLayerNorm, .outputLayerNorm, .finalLayerNorm: return true
        default: return false
        }
    }

    /// The BitFit bias type of this component's bias vector (selection `bias:TYPE,...`).
    public var biasType: String { names.biasType }

    /// Every bias type name, for help texts and validation.
    public static var biasTypes: [String] { allCases.map(\.biasType) }

    /// Order of the components inside a layer, bottom to top, for tables.
    public static func < (lhs: Component, rhs: Component) -> Bool { lhs.ordinal < rhs.ordinal }

    /// By position, not by ``rawValue`` (which builds the names table's strings on every call).
    public static func == (lhs: Component, rhs: Component) -> Bool { lhs.ordinal == rhs.ordinal }

    public func hash(into hasher: inout Hasher) { hasher.combine(ordinal) }
}

/// The component's module name (``ComponentNames/name``) is its raw value, and what it encodes as.
extension Component: RawRepresentable, Codable {
    public init?(rawValue: String) {
        guard let found = Component.allCases.first(where: { $0.names.name == rawValue }) else { return nil }
        self = found
    }

    public var rawValue: String { names.name }
}
