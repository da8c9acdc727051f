/// What a tensor name means: the name both checkpoints of a pair are matched by, the layer, the
/// component and the kind.
///
/// Built from the name alone (and the dtype, when known, to spot integer buffers), so that every
/// analysis agrees on what a parameter is.
public struct ParameterRole: Hashable, Sendable, Codable {
    /// The framework-neutral PyTorch-style name: TF names converted, legacy `gamma`/`beta` renamed,
    /// and the model prefix (`bert.`, `roberta.`, `transformer.`, `model.`, ...) removed, so that a
    /// `BertModel` and a `BertForSequenceClassification` (or a `tf_model.h5`) line up.
    public var canonicalName: String
    /// Index of the transformer layer, or nil outside the layer stack.
    public var layer: Int?
    public var component: Component
    public var kind: ParameterKind
    /// A TensorFlow/Keras `kernel`: stored (in, out), the transpose of PyTorch's (out, in) weight.
    public var isTFKernel: Bool

    /// The BitFit bias type when this is a bias (LayerNorm biases included).
    public var biasType: String? { kind.isBias ? component.biasType : nil }

    public init(canonicalName: String, layer: Int?, component: Component, kind: ParameterKind, isTFKernel: Bool) {
        self.canonicalName = canonicalName
        self.layer = layer
        self.component = component
        self.kind = kind
        self.isTFKernel = isTFKernel
    }
}
