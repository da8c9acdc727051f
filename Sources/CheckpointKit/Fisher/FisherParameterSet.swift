/// Which parameters get a Fisher diagonal.
public enum FisherParameterSet: String, Sendable, CaseIterable {
    /// Every LayerNorm weight and bias (the embeddings LayerNorm included).
    case layernorm
    /// Every bias vector: query/key/value, attention-output, intermediate, output, LayerNorm,
    /// pooler and classifier biases.
    case bias
    /// Both sets.
    case both

    /// A set by name, `norm` being another name of `layernorm` (it covers RMSNorms too).
    public init?(name: String) {
        self.init(rawValue: name == "norm" ? "layernorm" : name)
    }

    public func includes(_ parameter: BertParameter) -> Bool {
        switch self {
        case .layernorm: return parameter.isLayerNorm
        case .bias: return parameter.isBias
        case .both: return parameter.isLayerNorm || parameter.isBias
        }
    }
}
