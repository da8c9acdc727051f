import Glibc

/// The naming rules of the BERT family (BERT, RoBERTa, ELECTRA, MiniLM, DistilBERT), GPT-2 and
/// LLaMA-style models, in PyTorch and in TensorFlow `tf_model.h5` spelling.
public enum ParameterNames {
    /// Prefixes a task model adds around its base model; removed repeatedly from the front.
    public static let modelPrefixes = [
        "base_model.model.", "base_model.", "bert.", "roberta.", "electra.", "distilbert.", "albert.",
        "deberta.", "xlm-roberta.", "model.", "transformer.", "gpt2.", "encoder_model.",
    ]

    /// The role of the tensor called `name`.
    /// - Parameter dtype: when given, integer and boolean tensors are classed as buffers.
    public static func role(of name: String, dtype: DType? = nil) -> ParameterRole {
        var (canonical, isKernel) = canonicalize(name)
        let parts = DottedName(canonical)
        let layer = layerIndex(parts)
        let component = self.component(parts, layer: layer)
        var kind = self.kind(parts, component: component)
        if let dtype, !dtype.isFloatingPoint { kind = .buffer }
        if Keras3Names.isOptimizerVariable(name) { kind = .buffer }
        if kind == .buffer { isKernel = false }
        canonical = parts.string(original: canonical)
        return ParameterRole(canonicalName: canonical, layer: layer, component: component, kind: kind,
                             isTFKernel: isKernel && kind == .weight)
    }

    /// Converts a name to the canonical PyTorch spelling; returns whether it was a TF `kernel`.
    ///
    /// TF names follow transformers' `convert_tf_weight_name_to_pt_weight_name`: drop `:0`, turn
    /// `_._` into `/`, drop everything up to the model's own scope (`tf_bert_model`, ...),
    /// `kernel`/`gamma`/`embeddings` -> `weight`, `beta` -> `bias`, join with `.`.
    public static func canonicalize(_ name: String) -> (name: String, isTFKernel: Bool) {
        if let keras = Keras3Names.plainKerasName(name) { return canonicalize(keras) }
        let colonSuffix = TFNames.colonIndexSuffix(of: name)
        if colonSuffix != nil || DottedName.containsSlash(name) {
            let (joined, isKernel) = TFNames.canonicalParts(of: name, removing: colonSuffix)
            return (stripModelPrefixes(Array(joined.utf8), original: nil), isKernel)
        }
        // `gamma` and `beta` both end in `a`: any other name needs no copy of its bytes.
        if name.utf8.last != UInt8(ascii: "a"),
           let stripped = name.utf8.withContiguousStorageIfAvailable({ stripModelPrefixes($0, original: name) }) {
            return (stripped, false)
        }
        var bytes = Array(name.utf8)
        let renamed = renameLegacyNormParameter(&bytes)
        return (stripModelPrefixes(bytes, original: renamed ? nil : name), false)
    }

    /// `gamma`/`beta` of a module whose name contains `norm` or starts with `ln` (any case) become
    /// `weight`/`bias`; returns whether `bytes` changed.
    private static func renameLegacyNormParameter(_ bytes: inout [UInt8]) -> Bool {
        guard let lastDot = bytes.lastIndex(of: UInt8(ascii: ".")) else { return false }
        let last = bytes[(lastDot + 1)...]
        let isGamma = last.elementsEqual("gamma".utf8), isBeta = last.elementsEqual("beta".utf8)
        guard isGamma || isBeta else { return false }
        let moduleStart = bytes[..<lastDot].lastIndex(of: UInt8(ascii: ".")).map { $0 + 1 } ?? 0
        let module = bytes[moduleStart..<lastDot].map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        let isNorm = module.starts(with: "ln".utf8) || module.withUnsafeBytes { m in
            Array("norm".utf8).withUnsafeBytes { DottedName.occurs($0, in: m) }
        }
        guard isNorm else { return false }
        bytes.replaceSubrange((lastDot + 1)..., with: isGamma ? Array("weight".utf8) : Array("bias".utf8))
        return true
    }

    /// The bytes without the model prefixes at their front (each removed while something follows
    /// it, repeatedly, in ``modelPrefixes`` order), as a string; `original` is returned as is when
    /// it spells `bytes` and nothing is removed.
    private static func stripModelPrefixes<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, original: String?) -> String
    where Bytes.Index == Int {
        var start = 0
        var stripping = true
        while stripping {
            stripping = false
            for prefix in modelPrefixBytes where bytes.count - start > prefix.count
                && bytes[start..<(start + prefix.count)].elementsEqual(prefix) {
                start += prefix.count
                stripping = true
            }
        }
        if start == 0, let original { return original }
        return String(decoding: bytes[start...], as: UTF8.self)
    }

    private static let modelPrefixBytes = utf8Table(modelPrefixes)
    private static let layerWords = utf8Table(["layer", "layers", "h", "block", "blocks"])

    /// The layer index: the integer after `layer`, `layers`, `h`, `block` or `blocks`.
    static func layerIndex(_ parts: DottedName) -> Int? {
        for i in parts.segments.indices.dropLast() where parts.segment(i, isOneOf: layerWords) {
            if let index = parts.integer(at: i + 1) { return index }
        }
        return nil
    }

    /// Fragment tables of ``component(_:layer:)``, in the order the rules test them.
    private enum Fragments {
        static let headFirst = utf8Table(["classifier", "qa_outputs", "pre_classifier", "score", "discriminator_predictions", "sequence_summary"])
        static let pretrainingHeadFirst = utf8Table(["cls", "lm_head", "vocab_transform", "vocab_layer_norm", "vocab_projector", "generator_predictions", "generator_lm_head", "predictions"])
        static let pooler = utf8Table(["pooler"])
        static let embeddingsLayerNorm = FragmentTable(["embeddings.LayerNorm", "embeddings.layer_norm", "emb_ln", "embedding_layernorm"])
        static let embeddingsFirst = utf8Table(["embeddings"])
        static let embeddings = FragmentTable(["word_embeddings", "position_embeddings", "token_type_embeddings", "embed_tokens", "embed_positions", "embeddings_project"])
        static let embeddingsGPTFirst = utf8Table(["wte", "wpe"])
        static let finalLayerNormFirst = utf8Table(["ln_f", "norm", "final_layer_norm", "final_layernorm", "LayerNorm", "layer_norm"])
        /// Inside a layer: each component with the fragments that mark it, first match wins.
        static let inLayer: [(Component, FragmentTable)] = [
            (.query, FragmentTable(["attention.self.query", "self_attn.q_proj", "attention.q_lin", "attn.q_proj", ".q_proj."])),
            (.key, FragmentTable(["attention.self.key", "self_attn.k_proj", "attention.k_lin", "attn.k_proj", ".k_proj."])),
            (.value, FragmentTable(["attention.self.value", "self_attn.v_proj", "attention.v_lin", "attn.v_proj", ".v_proj."])),
            (.fusedQKV, FragmentTable(["attn.c_attn", "query_key_value", "qkv_proj", "Wqkv"])),
            (.attentionLayerNorm, FragmentTable(["attention.output.LayerNorm", "attention.output.layer_norm", "sa_layer_norm", "ln_1", "input_layernorm"])),
            (.attentionOutput, FragmentTable(["attention.output.dense", "self_attn.o_proj", "attention.out_lin", "attn.c_proj", "attention.dense", "attn.out_proj", "self_attn.out_proj"])),
            (.intermediateGate, FragmentTable(["mlp.gate_proj"])),
            (.intermediate, FragmentTable(["intermediate.dense", "ffn.lin1", "mlp.c_fc", "mlp.up_proj", "mlp.fc1", "dense_h_to_4h", ".fc1."])),
            (.outputLayerNorm, FragmentTable(["output_layer_norm", "ln_2", "post_attention_layernorm", "output.LayerNorm", "output.layer_norm", "final_layer_norm"])),
            (.output, FragmentTable(["output.dense", "ffn.lin2", "mlp.c_proj", "mlp.down_proj", "mlp.fc2", "dense_4h_to_h", ".fc2."])),
        ]
        static let bufferLast = utf8Table(["position_ids", "token_type_ids", "masked_bias", "inv_freq"])
        static let attnBias = Array("attn.bias".utf8), cAttnBias = Array("c_attn.bias".utf8)
        static let bias = Array("bias".utf8), weight = Array("weight".utf8)
        static let layerNorm = Array("LayerNorm".utf8), layerNormSuffixes = utf8Table(["layer_norm", "layernorm"])
        static let embeddingsProject = FragmentTable(["embeddings_project"])
    }

    static func component(_ parts: DottedName, layer: Int?) -> Component {
        if parts.segment(0, isOneOf: Fragments.headFirst) { return .head }
        if parts.segment(0, isOneOf: Fragments.pretrainingHeadFirst) { return .pretrainingHead }
        if parts.segment(0, isOneOf: Fragments.pooler) { return .pooler }
        if layer == nil {
            if parts.contains(anyOf: Fragments.embeddingsLayerNorm) { return .embeddingsLayerNorm }
            if parts.segment(0, isOneOf: Fragments.embeddingsFirst) || parts.contains(anyOf: Fragments.embeddings)
                || parts.segment(0, isOneOf: Fragments.embeddingsGPTFirst) {
                return .embeddings
            }
            if parts.segment(0, isOneOf: Fragments.finalLayerNormFirst) { return .finalLayerNorm }
            return .other
        }
        for (component, fragments) in Fragments.inLayer where parts.contains(anyOf: fragments) { return component }
        return .other
    }

    static func kind(_ parts: DottedName, component: Component) -> ParameterKind {
        if parts.segment(-1, isOneOf: Fragments.bufferLast)
            || parts.hasSuffix(Fragments.attnBias) && !parts.hasSuffix(Fragments.cAttnBias) {
            return .buffer
        }
        let isBias = parts.segment(-1, is: Fragments.bias)
        if component.isNorm { return isBias ? .layerNormBias : .layerNormWeight }
        if parts.segments.count >= 2, isBias || parts.segment(-1, is: Fragments.weight) {
            if parts.segment(-2, is: Fragments.layerNorm) || Fragments.layerNormSuffixes.contains(where: { parts.segment(-2, hasSuffix: $0) }) {
                return isBias ? .layerNormBias : .layerNormWeight
            }
        }
        if isBias { return .bias }
        if component == .embeddings && !parts.contains(anyOf: Fragments.embeddingsProject) { return .embedding }
        return .weight
    }
}
