/// Every name of one ``Component``: a row of ``Component/names``.
public struct ComponentNames: Sendable {
    /// BERT's module path, the value JSON reports and group keys use: `attention.output.LayerNorm`.
    public let name: String
    /// The BitFit bias type (selection `bias:TYPE`, JSON `bias_type`): `attention_layernorm`.
    public let biasType: String
    /// What a person reads: `attention-output LayerNorm`. The terminal and HTML reports and the
    /// mask report use it (the mask report, about a sequence classifier, names the head
    /// `classifier` and the embeddings parameters `embedding projection`).
    public let label: String
    /// The label abbreviated for a table column of at most 8 characters: `attn.LN`.
    public let short: String

    init(_ name: String, bias: String, label: String, short: String) {
        self.name = name
        self.biasType = bias
        self.label = label
        self.short = short
    }

    /// The label in two lines for a narrow column heading, split before its last word:
    /// (`attention-output`, `LayerNorm`); the first line is empty for a one-word label.
    public var heading: (upper: String, lower: String) {
        guard let space = label.lastIndex(of: " ") else { return ("", label) }
        return (String(label[..<space]), String(label[label.index(after: space)...]))
    }
}
