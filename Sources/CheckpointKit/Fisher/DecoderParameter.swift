/// One norm or bias vector of a decoder whose Fisher diagonal can be estimated, in the order of the
/// model (bottom to top).
public struct DecoderParameter: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A LayerNorm or RMSNorm weight.
        case normWeight
        /// A LayerNorm bias.
        case normBias
        /// The bias of a projection (attention or MLP).
        case bias
    }

    /// The name the checkpoint gives the tensor.
    public var name: String
    public var kind: Kind
    public var count: Int

    /// Whether `set` covers the parameter: `layernorm` the norms (weights and LayerNorm biases),
    /// `bias` every bias vector (LayerNorm biases included, as for encoders), `both` either.
    public func isIncluded(in set: FisherParameterSet) -> Bool {
        switch set {
        case .layernorm: return kind != .bias
        case .bias: return kind != .normWeight
        case .both: return true
        }
    }
}
