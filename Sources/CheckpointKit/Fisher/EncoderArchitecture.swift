/// What distinguishes the post-LayerNorm encoders the native Fisher engine runs (BERT, ELECTRA,
/// RoBERTa / XLM-RoBERTa, DistilBERT): how positions are numbered, whether token types exist, the
/// classification head, and the names of the tensors. The layers themselves (self-attention scaled by
/// 1/sqrt(head size), residual + LayerNorm, exact-erf GELU feed-forward, residual + LayerNorm) are the
/// same in all of them, so one runner serves them all and consults this description.
public enum EncoderArchitecture: String, Sendable, CaseIterable {
    case bert, electra, roberta, distilbert

    /// The architecture of a `config.json` `model_type`, if the engine runs it.
    public init?(modelType: String) {
        switch modelType {
        case "bert": self = .bert
        case "electra": self = .electra
        case "roberta", "xlm-roberta": self = .roberta
        case "distilbert": self = .distilbert
        default: return nil
        }
    }

    /// The `model_type` values the engine accepts.
    public static let supportedModelTypes: [String] = ["bert", "electra", "roberta", "xlm-roberta", "distilbert"]

    /// How token `t` of an example gets its position embedding row.
    enum Positions: Equatable {
        /// Row `t` (BERT, ELECTRA, DistilBERT).
        case sequential
        /// RoBERTa (fairseq's `make_positions`): a padding token gets row `paddingIdx`, the `k`-th
        /// non-padding token (from 1) row `paddingIdx + k`.
        case afterPadding(paddingIdx: Int32)
    }

    /// The activation between the head's dense layer and its output layer.
    enum HeadActivation {
        /// BERT's pooler and RoBERTa's `classifier.dense`.
        case tanh
        /// ELECTRA's `classifier.dense`.
        case gelu
        /// DistilBERT's `pre_classifier`.
        case relu
    }

    var headActivation: HeadActivation {
        switch self {
        case .bert, .roberta: return .tanh
        case .electra: return .gelu
        case .distilbert: return .relu
        }
    }

    /// Whether the checkpoint has `embeddings.token_type_embeddings` (DistilBERT has none).
    var hasTokenTypes: Bool { self != .distilbert }

    /// Whether the head's dense layer belongs to the task head (fresh with it) rather than to the
    /// base model (BERT's pooler, which a base checkpoint has).
    var headDenseIsTaskHead: Bool { self != .bert }

    /// The names of the head's dense and output layers.
    var headNames: (dense: String, output: String) {
        switch self {
        case .bert: return ("pooler.dense", "classifier")
        case .electra, .roberta: return ("classifier.dense", "classifier.out_proj")
        case .distilbert: return ("pre_classifier", "classifier")
        }
    }

    /// Rewrites a canonical tensor name (model prefix removed, see ``ParameterNames/canonicalize(_:)``)
    /// to BERT's spelling, which the weight loader looks names up in. Only DistilBERT differs:
    /// `transformer.layer.N.attention.q_lin` is `encoder.layer.N.attention.self.query`, and so on.
    func bertSpelling(of name: String) -> String {
        guard self == .distilbert, name.hasPrefix("layer.") else { return name }
        let parts = name.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, Int(parts[1]) != nil else { return name }
        for (distil, bert) in Self.distilbertLayerNames where parts[2].hasPrefix(distil + ".") {
            return "encoder.layer.\(parts[1]).\(bert)" + parts[2].dropFirst(distil.count)
        }
        return name
    }

    /// DistilBERT's layer modules and BERT's names for them.
    private static let distilbertLayerNames: [(String, String)] = [
        ("attention.q_lin", "attention.self.query"), ("attention.k_lin", "attention.self.key"),
        ("attention.v_lin", "attention.self.value"), ("attention.out_lin", "attention.output.dense"),
        ("sa_layer_norm", "attention.output.LayerNorm"), ("ffn.lin1", "intermediate.dense"),
        ("ffn.lin2", "output.dense"), ("output_layer_norm", "output.LayerNorm"),
    ]
}
