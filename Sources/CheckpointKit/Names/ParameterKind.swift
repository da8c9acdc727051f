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
