import Foundation

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
        let parts = canonical.split(separator: ".").map(String.init)
        let layer = layerIndex(parts)
        let component = self.component(parts, layer: layer)
        var kind = self.kind(parts, component: component)
        if let dtype, !dtype.isFloatingPoint { kind = .buffer }
        if kind == .buffer { isKernel = false }
        canonical = parts.joined(separator: ".")
        return ParameterRole(canonicalName: canonical, layer: layer, component: component, kind: kind,
                             isTFKernel: isKernel && kind == .weight)
    }

    /// Converts a name to the canonical PyTorch spelling; returns whether it was a TF `kernel`.
    ///
    /// TF names follow transformers' `convert_tf_weight_name_to_pt_weight_name`: drop `:0`, turn
    /// `_._` into `/`, drop everything up to the model's own scope (`tf_bert_model`, ...),
    /// `kernel`/`gamma`/`embeddings` -> `weight`, `beta` -> `bias`, join with `.`.
    public static func canonicalize(_ name: String) -> (name: String, isTFKernel: Bool) {
        var isKernel = false
        var parts: [String]
        let isTF = name.contains("/") || name.range(of: #":\d+$"#, options: .regularExpression) != nil
        if isTF {
            var stripped = name
            if let colon = stripped.range(of: #":\d+$"#, options: .regularExpression) { stripped.removeSubrange(colon) }
            stripped = stripped.replacingOccurrences(of: "_._", with: "/")
            parts = stripped.split(separator: "/").map(String.init)
            if let scope = parts.lastIndex(where: { $0.hasPrefix("tf_") }) {
                parts.removeFirst(scope + 1)
            } else if parts.count > 1, parts.first == "model_weights" || parts.first == "layers" {
                parts.removeFirst()
            }
            if let last = parts.last {
                switch last {
                case "kernel": isKernel = true; parts[parts.count - 1] = "weight"
                case "gamma", "embeddings": parts[parts.count - 1] = "weight"
                case "beta": parts[parts.count - 1] = "bias"
                default: break
                }
            }
        } else {
            parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if parts.count >= 2, let last = parts.last {
                let module = parts[parts.count - 2].lowercased()
                let isNormModule = module.contains("norm") || module.hasPrefix("ln")
                if isNormModule && last == "gamma" { parts[parts.count - 1] = "weight" }
                if isNormModule && last == "beta" { parts[parts.count - 1] = "bias" }
            }
        }
        var joined = parts.joined(separator: ".")
        var stripping = true
        while stripping {
            stripping = false
            for prefix in modelPrefixes where joined.hasPrefix(prefix) && joined.count > prefix.count {
                joined.removeFirst(prefix.count)
                stripping = true
            }
        }
        return (joined, isKernel)
    }

    /// The layer index: the integer after `layer`, `layers`, `h`, `block` or `blocks`.
    static func layerIndex(_ parts: [String]) -> Int? {
        for (i, part) in parts.enumerated().dropLast() where ["layer", "layers", "h", "block", "blocks"].contains(part) {
            if let index = Int(parts[i + 1]) { return index }
        }
        return nil
    }

    static func component(_ parts: [String], layer: Int?) -> Component {
        let name = parts.joined(separator: ".")
        func has(_ fragments: String...) -> Bool { fragments.contains { name.contains($0) } }
        let first = parts.first ?? ""
        if ["classifier", "qa_outputs", "pre_classifier", "score", "discriminator_predictions", "sequence_summary"].contains(first) {
            return .head
        }
        if ["cls", "lm_head", "vocab_transform", "vocab_layer_norm", "vocab_projector", "generator_predictions", "generator_lm_head", "predictions"].contains(first) {
            return .pretrainingHead
        }
        if first == "pooler" { return .pooler }
        if layer == nil {
            if has("embeddings.LayerNorm", "embeddings.layer_norm", "emb_ln", "embedding_layernorm") { return .embeddingsLayerNorm }
            if first == "embeddings" || has("word_embeddings", "position_embeddings", "token_type_embeddings", "embed_tokens", "embed_positions", "embeddings_project")
                || ["wte", "wpe"].contains(first) {
                return .embeddings
            }
            if ["ln_f", "norm", "final_layer_norm", "final_layernorm", "LayerNorm", "layer_norm"].contains(first) { return .finalLayerNorm }
            return .other
        }
        if has("attention.self.query", "self_attn.q_proj", "attention.q_lin", "attn.q_proj", ".q_proj.") { return .query }
        if has("attention.self.key", "self_attn.k_proj", "attention.k_lin", "attn.k_proj", ".k_proj.") { return .key }
        if has("attention.self.value", "self_attn.v_proj", "attention.v_lin", "attn.v_proj", ".v_proj.") { return .value }
        if has("attn.c_attn", "query_key_value", "qkv_proj", "Wqkv") { return .fusedQKV }
        if has("attention.output.LayerNorm", "attention.output.layer_norm", "sa_layer_norm", "ln_1", "input_layernorm") {
            return .attentionLayerNorm
        }
        if has("attention.output.dense", "self_attn.o_proj", "attention.out_lin", "attn.c_proj", "attention.dense", "attn.out_proj", "self_attn.out_proj") {
            return .attentionOutput
        }
        if has("mlp.gate_proj") { return .intermediateGate }
        if has("intermediate.dense", "ffn.lin1", "mlp.c_fc", "mlp.up_proj", "mlp.fc1", "dense_h_to_4h", ".fc1.") { return .intermediate }
        if has("output_layer_norm", "ln_2", "post_attention_layernorm", "output.LayerNorm", "output.layer_norm", "final_layer_norm") {
            return .outputLayerNorm
        }
        if has("output.dense", "ffn.lin2", "mlp.c_proj", "mlp.down_proj", "mlp.fc2", "dense_4h_to_h", ".fc2.") { return .output }
        return .other
    }

    static func kind(_ parts: [String], component: Component) -> ParameterKind {
        let last = parts.last ?? ""
        let name = parts.joined(separator: ".")
        if ["position_ids", "token_type_ids", "masked_bias", "inv_freq"].contains(last) || name.hasSuffix("attn.bias") && !name.hasSuffix("c_attn.bias") {
            return .buffer
        }
        if component.isNorm { return last == "bias" ? .layerNormBias : .layerNormWeight }
        if parts.count >= 2, last == "weight" || last == "bias" {
            let module = parts[parts.count - 2]
            if module == "LayerNorm" || module.hasSuffix("layer_norm") || module.hasSuffix("layernorm") {
                return last == "bias" ? .layerNormBias : .layerNormWeight
            }
        }
        if last == "bias" { return .bias }
        if component == .embeddings && !name.contains("embeddings_project") { return .embedding }
        return .weight
    }
}
