/// Where a parameter sits, for the mask report: built on ``ParameterNames/role(of:dtype:)``, so
/// `bert.`-prefixed, unprefixed, legacy `gamma`/`beta` and TensorFlow names all group alike.
public enum MaskGroups {
    /// A readable component: `embeddings LayerNorm weight`, `attention-output LayerNorm bias`,
    /// `output LayerNorm weight`, `query bias`, `intermediate bias`, `classifier bias`, ...
    public static func component(of name: String) -> String {
        let role = ParameterNames.role(of: name)
        let part = role.canonicalName.hasSuffix(".bias") ? "bias" : "weight"
        switch role.component {
        case .pretrainingHead, .other: return role.canonicalName
        // A Fisher covers a sequence classifier: its only embeddings parameters are the
        // projection's (ELECTRA), its head is the classifier.
        case .embeddings: return "embedding projection " + part
        case .head: return "classifier " + part
        default: return role.component.names.label + " " + part
        }
    }

    /// `embeddings`, `layer N`, `pooler`, `classifier` or `other`.
    public static func layer(of name: String) -> String {
        let role = ParameterNames.role(of: name)
        if let layer = role.layer { return "layer \(layer)" }
        switch role.component {
        case .embeddings, .embeddingsLayerNorm: return "embeddings"
        case .pooler: return "pooler"
        case .head: return "classifier"
        default: return "other"
        }
    }
}
