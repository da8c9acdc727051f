extension Keras3Names {
    /// A KerasHub model family: which backbone the file holds (a task model nests it as
    /// `<family>_backbone`; a backbone saved alone is recognised by its layers), and the table from
    /// its Keras layer paths to Hugging Face module paths.
    struct Family {
        enum Kind { case bert, electra, roberta, distilBERT, gpt2, llama, gemma }
        var kind: Kind
        /// The backbone's container name in a task model (`bert_backbone`), or nil for a bare backbone.
        var backbone: String?
        /// ELECTRA with an embedding projection (`dense` is the projection, `dense_1` the pooler).
        var projects = false
        /// Gemma 2 layout: extra norms after attention and feed-forward.
        var gemma2 = false

        var label: String {
            let name: String
            switch kind {
            case .bert: name = "BERT"
            case .electra: name = "ELECTRA"
            case .roberta: name = backbone == nil ? "RoBERTa or DistilBERT (backbone saved alone, named as RoBERTa)" : "RoBERTa"
            case .distilBERT: name = "DistilBERT"
            case .gpt2: name = "GPT-2"
            case .llama: name = "Llama"
            case .gemma: name = gemma2 ? "Gemma 2" : "Gemma"
            }
            return "KerasHub " + name + (backbone == nil ? " backbone" : " task model")
        }

        /// The Hugging Face model prefix the names start with (removed again by ``ParameterNames``).
        var root: String {
            switch kind {
            case .bert: return "bert"
            case .electra: return "electra"
            case .roberta: return "roberta"
            case .distilBERT: return "distilbert"
            case .gpt2: return "transformer"
            case .llama, .gemma: return "model"
            }
        }

        static let backbones: [String: Kind] = [
            "bert_backbone": .bert, "electra_backbone": .electra, "roberta_backbone": .roberta,
            "distil_bert_backbone": .distilBERT, "gpt2_backbone": .gpt2, "llama_backbone": .llama,
            "llama3_backbone": .llama, "gemma_backbone": .gemma,
        ]

        /// The family of a file's variables, or nil for a plain Keras model (or an unknown one).
        static func detect(_ paths: [VariablePath]) -> Family? {
            let top = Set(paths.map { $0.layers[0] })
            if let name = top.first(where: { backbones[$0] != nil }), let kind = backbones[name] {
                let inner = Set(paths.filter { $0.layers[0] == name && $0.layers.count > 1 }.map { $0.layers[1] })
                return Family(kind: kind, inner: inner, backbone: name, all: paths)
            }
            let kind: Kind
            if top.contains("llama_transformer_decoder") { kind = .llama }
            else if top.contains("gemma_decoder_block") { kind = .gemma }
            else if top.contains("transformer_decoder"), top.contains("reversible_embedding") { kind = .gpt2 }
            else if top.contains("transformer_encoder"), top.contains("token_and_position_embedding") { kind = .roberta }
            else if top.contains("transformer_encoder"), top.contains("reversible_embedding"), top.contains("embedding") {
                kind = top.contains("dense_1") ? .electra : .bert
            } else { return nil }
            return Family(kind: kind, inner: top, backbone: nil, all: paths)
        }

        init(kind: Kind, inner: Set<String>, backbone: String?, all: [VariablePath]) {
            self.kind = kind
            self.backbone = backbone
            projects = kind == .electra && inner.contains("dense_1")
            gemma2 = kind == .gemma && all.contains { $0.layers.contains("post_attention_norm") }
        }

        /// The TF-style name of one variable, or nil where the table has no entry.
        func name(of path: VariablePath, shape: [Int]) -> String? {
            var layers = path.layers[...]
            if let backbone {
                guard layers.first == backbone else { return headName(path) }
                layers = layers.dropFirst()
            }
            guard let first = layers.first else { return nil }
            if kind == .llama, first == "reversible_embedding", path.variable == 1 { return "lm_head/kernel" }
            let slot: Slot?
            let (base, index) = Keras3Names.numbered(first)
            if ["transformer_encoder", "transformer_decoder", "llama_transformer_decoder", "gemma_decoder_block"].contains(base) {
                slot = blockSlot(layers.dropFirst().joined(separator: "/"), shape: shape).map {
                    ((kind == .distilBERT ? "transformer/layer/" : kind == .bert || kind == .electra || kind == .roberta ? "encoder/layer/" : kind == .gpt2 ? "h/" : "layers/") + "\(index)/" + $0.module, $0.type)
                }
            } else {
                slot = embeddingSlot(layers.joined(separator: "/"))
            }
            guard let slot, let variable = slot.type.variable(path.variable) else { return nil }
            return root + "/" + slot.module + "/" + variable
        }

        /// Layers of the backbone outside its blocks: embeddings, their norm, pooler, final norm.
        func embeddingSlot(_ layer: String) -> Slot? {
            switch (kind, layer) {
            case (.bert, "reversible_embedding"), (.electra, "reversible_embedding"),
                 (.roberta, "token_and_position_embedding/token_embedding"),
                 (.distilBERT, "token_and_position_embedding/token_embedding"):
                return ("embeddings/word_embeddings", .embedding)
            case (.bert, "position_embedding"), (.electra, "position_embedding"),
                 (.distilBERT, "token_and_position_embedding/position_embedding"):
                return ("embeddings/position_embeddings", .embedding)
            case (.roberta, "token_and_position_embedding/position_embedding"):
                return ("embeddings/position_embeddings_without_padding_rows", .embedding)
            case (.bert, "embedding"), (.electra, "embedding"): return ("embeddings/token_type_embeddings", .embedding)
            case (.bert, "layer_normalization"), (.electra, "layer_normalization"), (.roberta, "layer_normalization"),
                 (.distilBERT, "layer_normalization"):
                return ("embeddings/LayerNorm", .layerNorm)
            case (.bert, "dense"): return ("pooler/dense", .dense)
            case (.electra, "dense"): return projects ? ("embeddings_project", .dense) : ("pooler/dense", .dense)
            case (.electra, "dense_1") where projects: return ("pooler/dense", .dense)
            case (.gpt2, "reversible_embedding"): return ("wte", .embedding)
            case (.gpt2, "position_embedding"): return ("wpe", .embedding)
            case (.gpt2, "layer_normalization"): return ("ln_f", .layerNorm)
            case (.llama, "reversible_embedding"), (.gemma, "reversible_embedding"): return ("embed_tokens", .embedding)
            case (.llama, "llama_layer_norm"), (.gemma, "rms_normalization"): return ("norm", .rmsNorm)
            default: return nil
            }
        }

        /// A sublayer of one transformer block (`_self_attention_layer/query_dense`).
        func blockSlot(_ sublayer: String, shape: [Int]) -> Slot? {
            switch kind {
            case .bert, .electra, .roberta: return Family.encoderSlots[sublayer]
            case .distilBERT: return Family.distilBERTSlots[sublayer]
            case .gpt2: return Family.gpt2Slots[sublayer]
            case .llama: return Family.llamaSlots[sublayer]
            case .gemma:
                if sublayer == "pre_ffw_norm" { return (gemma2 ? "pre_feedforward_layernorm" : "post_attention_layernorm", .rmsNorm) }
                guard let slot = Family.gemmaSlots[sublayer] else { return nil }
                // Query, key and value kernels are (heads, hidden, head_dim): a per-head transpose
                // of PyTorch's weight, named apart so that the alignment permutes their axes.
                if sublayer != "attention/output_dense", sublayer.hasPrefix("attention/"), shape.count == 3 {
                    return (slot.module, .perHeadDense)
                }
                return slot
            }
        }

        /// A layer of a task model outside the backbone: its head.
        func headName(_ path: VariablePath) -> String? {
            guard path.layers.count == 1 else { return nil }
            let layer = path.layers[0]
            guard Keras3Names.numbered(layer).base == "dense", let variable = LayerType.dense.variable(path.variable) else { return nil }
            let module: String
            switch (kind, layer) {
            case (.roberta, "dense"): module = "classifier/dense"
            case (.roberta, "dense_1"): module = "classifier/out_proj"
            case (.distilBERT, "dense"): module = "pre_classifier"
            case (.distilBERT, "dense_1"): module = "classifier"
            case (_, "dense"): module = "classifier"
            default: module = "classifier/" + layer
            }
            return module + "/" + variable
        }

        static let encoderSlots: [String: Slot] = [
            "_self_attention_layer/query_dense": ("attention/self/query", .dense),
            "_self_attention_layer/key_dense": ("attention/self/key", .dense),
            "_self_attention_layer/value_dense": ("attention/self/value", .dense),
            "_self_attention_layer/output_dense": ("attention/output/dense", .dense),
            "_self_attention_layer_norm": ("attention/output/LayerNorm", .layerNorm),
            "_feedforward_intermediate_dense": ("intermediate/dense", .dense),
            "_feedforward_output_dense": ("output/dense", .dense),
            "_feedforward_layer_norm": ("output/LayerNorm", .layerNorm),
        ]
        static let distilBERTSlots: [String: Slot] = [
            "_self_attention_layer/query_dense": ("attention/q_lin", .dense),
            "_self_attention_layer/key_dense": ("attention/k_lin", .dense),
            "_self_attention_layer/value_dense": ("attention/v_lin", .dense),
            "_self_attention_layer/output_dense": ("attention/out_lin", .dense),
            "_self_attention_layer_norm": ("sa_layer_norm", .layerNorm),
            "_feedforward_intermediate_dense": ("ffn/lin1", .dense),
            "_feedforward_output_dense": ("ffn/lin2", .dense),
            "_feedforward_layer_norm": ("output_layer_norm", .layerNorm),
        ]
        /// GPT-2's query, key and value are one `c_attn` in Hugging Face: named apart here, then
        /// read as one (``Keras3Names/fusions(_:)``).
        static let gpt2Slots: [String: Slot] = [
            "_self_attention_layer/query_dense": ("attn/q_proj", .conv1D),
            "_self_attention_layer/key_dense": ("attn/k_proj", .conv1D),
            "_self_attention_layer/value_dense": ("attn/v_proj", .conv1D),
            "_self_attention_layer/output_dense": ("attn/c_proj", .conv1D),
            "_self_attention_layer_norm": ("ln_1", .layerNorm),
            "_feedforward_intermediate_dense": ("mlp/c_fc", .conv1D),
            "_feedforward_output_dense": ("mlp/c_proj", .conv1D),
            "_feedforward_layer_norm": ("ln_2", .layerNorm),
        ]
        static let llamaSlots: [String: Slot] = [
            "_self_attention_layer/_query_dense": ("self_attn/q_proj", .dense),
            "_self_attention_layer/_key_dense": ("self_attn/k_proj", .dense),
            "_self_attention_layer/_value_dense": ("self_attn/v_proj", .dense),
            "_self_attention_layer/_output_dense": ("self_attn/o_proj", .dense),
            "_self_attention_layernorm": ("input_layernorm", .rmsNorm),
            "_feedforward_layernorm": ("post_attention_layernorm", .rmsNorm),
            "_feedforward_gate_dense": ("mlp/gate_proj", .dense),
            "_feedforward_intermediate_dense": ("mlp/up_proj", .dense),
            "_feedforward_output_dense": ("mlp/down_proj", .dense),
        ]
        static let gemmaSlots: [String: Slot] = [
            "attention/query_dense": ("self_attn/q_proj", .dense),
            "attention/key_dense": ("self_attn/k_proj", .dense),
            "attention/value_dense": ("self_attn/v_proj", .dense),
            "attention/output_dense": ("self_attn/o_proj", .dense),
            "pre_attention_norm": ("input_layernorm", .rmsNorm),
            "post_attention_norm": ("post_attention_layernorm", .rmsNorm),
            "post_ffw_norm": ("post_feedforward_layernorm", .rmsNorm),
            "gating_ffw": ("mlp/gate_proj", .dense),
            "gating_ffw_2": ("mlp/up_proj", .dense),
            "ffw_linear": ("mlp/down_proj", .dense),
        ]
    }
}
