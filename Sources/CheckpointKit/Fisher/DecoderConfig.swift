import Foundation

/// The fields of a Hugging Face `config.json` the native decoder engine needs (GPT-2, Llama,
/// Mistral, Qwen2), checked against what it implements; anything else is refused by name rather
/// than run wrongly.
public struct DecoderConfig: Sendable, Equatable {
    /// `model_type` values the decoder engine runs, and their layout.
    public static let supportedModelTypes: [String: DecoderArchitecture] = [
        "gpt2": .gpt2, "llama": .llama, "mistral": .llama, "qwen2": .llama,
    ]

    public var modelType: String
    public var architecture: DecoderArchitecture
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    /// Key/value heads (grouped-query attention); `numHeads` when the config has none.
    public var numKeyValueHeads: Int
    public var headSize: Int
    public var intermediateSize: Int
    /// Longest sequence the positions cover (GPT-2: rows of `wpe`).
    public var maxPositions: Int
    public var normEpsilon: Float
    /// Whether attention logits are divided by sqrt(head size) (GPT-2's `scale_attn_weights`).
    public var scalesAttention: Bool
    public var tiesWordEmbeddings: Bool
    /// Biases of the q, k and v projections (Qwen2; Llama's `attention_bias`).
    public var qkvBias: Bool
    /// Bias of the attention output projection (Llama's `attention_bias`).
    public var outputBias: Bool
    /// Biases of the MLP projections (Llama's `mlp_bias`).
    public var mlpBias: Bool
    /// Mistral's attention window, in tokens; longer examples are refused.
    public var slidingWindow: Int?
    var rotary: RotaryEmbedding?

    /// The `model_type` of `directory/config.json` when it describes a decoder language model (one
    /// this engine runs, or any whose `architectures` is a causal LM, so that an unsupported one is
    /// refused as a decoder): the fisher job's choice between the encoder and the decoder engine.
    public static func decoderModelType(directory: String) -> String? {
        guard let root = try? readJSON(directory + "/config.json"), let type = root["model_type"]?.stringValue else { return nil }
        let causal = root["architectures"]?.arrayValue?.contains { $0.stringValue?.hasSuffix("ForCausalLM") == true || $0.stringValue?.hasSuffix("LMHeadModel") == true } ?? false
        return supportedModelTypes[type] != nil || causal ? type : nil
    }

    /// Reads `directory/config.json`.
    public static func load(directory: String) throws -> DecoderConfig {
        let path = directory + "/config.json"
        guard FileManager.default.fileExists(atPath: path) else { throw FisherError.missingConfig(directory: directory) }
        return try parse(try readJSON(path), path: path)
    }

    static func readJSON(_ path: String) throws -> JSONValue {
        let data: [UInt8]
        do { data = try MappedFile.contents(of: path, maxBytes: WordPieceTokenizer.maxFileBytes) } catch {
            throw FisherError.invalidConfig(path: path, reason: "cannot read the file: \(error)")
        }
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch { throw FisherError.invalidConfig(path: path, reason: "JSON: \(error)") }
        return root
    }

    /// Validates a parsed `config.json`.
    public static func parse(_ root: JSONValue, path: String) throws -> DecoderConfig {
        guard root.objectValue != nil else { throw FisherError.invalidConfig(path: path, reason: "not a JSON object") }
        let modelType = root["model_type"]?.stringValue ?? "?"
        guard let architecture = supportedModelTypes[modelType] else {
            throw FisherError.unsupportedArchitecture(path: path, modelType: modelType, reason: "the decoder engine runs model_type gpt2, llama, mistral and qwen2")
        }
        let reader = ConfigReader(root: root, path: path, modelType: modelType)
        return architecture == .gpt2 ? try gpt2(reader) : try llama(reader)
    }

    static func gpt2(_ r: ConfigReader) throws -> DecoderConfig {
        let activation = r.string("activation_function") ?? "gelu_new"
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
            throw r.unsupported("activation_function '\(activation)' (only the tanh GELU, gelu_new, is implemented)")
        }
        if r.bool("scale_attn_by_inverse_layer_idx") == true { throw r.unsupported("scale_attn_by_inverse_layer_idx") }
        if r.bool("add_cross_attention") == true { throw r.unsupported("cross-attention (add_cross_attention)") }
        let hidden = try r.int("n_embd")
        let heads = try r.int("n_head")
        let config = DecoderConfig(
            modelType: r.modelType, architecture: .gpt2, vocabSize: try r.int("vocab_size"), hiddenSize: hidden,
            numLayers: try r.int("n_layer"), numHeads: heads, numKeyValueHeads: heads, headSize: heads > 0 ? hidden / heads : 0,
            intermediateSize: try r.int("n_inner", default: 4 * hidden), maxPositions: try r.int("n_positions"),
            normEpsilon: Float(try r.number("layer_norm_epsilon", default: 1e-5)),
            scalesAttention: r.bool("scale_attn_weights") ?? true, tiesWordEmbeddings: r.bool("tie_word_embeddings") ?? true,
            qkvBias: true, outputBias: true, mlpBias: true, slidingWindow: nil, rotary: nil)
        return try config.checked(r)
    }

    static func llama(_ r: ConfigReader) throws -> DecoderConfig {
        let activation = r.string("hidden_act") ?? "silu"
        guard activation == "silu" else { throw r.unsupported("hidden_act '\(activation)' (only SwiGLU with silu is implemented)") }
        let hidden = try r.int("hidden_size"), heads = try r.int("num_attention_heads")
        let headSize = try r.int("head_dim", default: heads > 0 ? hidden / heads : 0)
        let isQwen = r.modelType == "qwen2"
        var window: Int? = nil
        if r.modelType == "mistral" || r.bool("use_sliding_window") == true { window = try r.optionalInt("sliding_window") }
        let attentionBias = r.bool("attention_bias") ?? false
        let config = DecoderConfig(
            modelType: r.modelType, architecture: .llama, vocabSize: try r.int("vocab_size"), hiddenSize: hidden,
            numLayers: try r.int("num_hidden_layers"), numHeads: heads,
            numKeyValueHeads: try r.int("num_key_value_heads", default: heads), headSize: headSize,
            intermediateSize: try r.int("intermediate_size"), maxPositions: try r.int("max_position_embeddings", default: 2048),
            normEpsilon: Float(try r.number("rms_norm_eps", default: 1e-6)), scalesAttention: true,
            tiesWordEmbeddings: r.bool("tie_word_embeddings") ?? false,
            qkvBias: isQwen || attentionBias, outputBias: !isQwen && attentionBias, mlpBias: !isQwen && (r.bool("mlp_bias") ?? false),
            slidingWindow: window, rotary: try rotary(r, headSize: headSize))
        return try config.checked(r)
    }

    /// `rope_parameters` (transformers 5) or `rope_theta` + `rope_scaling` (transformers 4).
    static func rotary(_ r: ConfigReader, headSize: Int) throws -> RotaryEmbedding {
        if let factor = try r.optionalNumber("partial_rotary_factor"), factor != 1 {
            throw r.unsupported("partial_rotary_factor \(factor) (only full rotary embeddings are implemented)")
        }
        let parameters = r.root["rope_parameters"].flatMap { $0 == .null ? nil : $0 }
        let scaling = parameters ?? r.root["rope_scaling"].flatMap { $0 == .null ? nil : $0 }
        // transformers 5 always writes rope_theta inside rope_parameters; one without it is a layout
        // (per-layer-type parameters, say) this engine does not know, not a default.
        let theta = try ConfigReader(root: parameters ?? r.root, path: r.path, modelType: r.modelType).number("rope_theta", default: parameters == nil ? 10000 : nil)
        guard let scaling else { return RotaryEmbedding(theta: theta, scaling: .none, dimension: headSize) }
        let s = ConfigReader(root: scaling, path: r.path, modelType: r.modelType)
        let type = s.string("rope_type") ?? s.string("type") ?? "default"
        switch type {
        case "default":
            return RotaryEmbedding(theta: theta, scaling: .none, dimension: headSize)
        case "llama3":
            let scaled = RotaryEmbedding.Scaling.llama3(
                factor: try s.number("factor"), lowFrequencyFactor: try s.number("low_freq_factor"),
                highFrequencyFactor: try s.number("high_freq_factor"), originalContext: try s.number("original_max_position_embeddings"))
            if case let .llama3(_, low, high, _) = scaled, !(high > low) {
                throw FisherError.invalidConfig(path: r.path, reason: "rope_scaling: high_freq_factor must exceed low_freq_factor")
            }
            return RotaryEmbedding(theta: theta, scaling: scaled, dimension: headSize)
        default:
            throw r.unsupported("rope scaling '\(type)' (only default and llama3 are implemented)")
        }
    }

    func checked(_ r: ConfigReader) throws -> DecoderConfig {
        guard vocabSize > 0, hiddenSize > 0, numLayers > 0, numHeads > 0, numKeyValueHeads > 0, headSize > 0,
              intermediateSize > 0, maxPositions > 0 else {
            throw FisherError.invalidConfig(path: r.path, reason: "sizes must be positive")
        }
        guard numHeads % numKeyValueHeads == 0 else {
            throw FisherError.invalidConfig(path: r.path, reason: "num_attention_heads \(numHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        guard architecture == .llama || hiddenSize == numHeads * headSize else {
            throw FisherError.invalidConfig(path: r.path, reason: "hidden size \(hiddenSize) is not a multiple of the head count \(numHeads)")
        }
        guard rotary == nil || headSize % 2 == 0 else { throw FisherError.invalidConfig(path: r.path, reason: "head size \(headSize) is odd; rotary embeddings pair dimensions") }
        let limit = 1 << 20
        guard [vocabSize, hiddenSize, intermediateSize, numLayers * numHeads * headSize].allSatisfy({ $0 <= limit }) else {
            throw FisherError.invalidConfig(path: r.path, reason: "a size exceeds \(limit)")
        }
        return self
    }
}

/// Typed reads of one JSON object of a config, each failure naming the file and key.
struct ConfigReader {
    let root: JSONValue
    let path: String
    let modelType: String

    func string(_ key: String) -> String? { root[key]?.stringValue }

    func bool(_ key: String) -> Bool? {
        if case let .bool(b)? = root[key] { return b }
        return nil
    }

    func int(_ key: String, default value: Int? = nil) throws(FisherError) -> Int {
        if let v = root[key]?.intValue { return v }
        if let value, root[key] == nil || root[key] == .null { return value }
        throw FisherError.invalidConfig(path: path, reason: "'\(key)' is missing or not an integer")
    }

    func optionalInt(_ key: String) throws(FisherError) -> Int? {
        if root[key] == nil || root[key] == .null { return nil }
        return try int(key)
    }

    func optionalNumber(_ key: String) throws(FisherError) -> Double? {
        switch root[key] {
        case nil, .null?: return nil
        case let .integer(i)?: return Double(i)
        case let .number(d)?: return d
        default: throw FisherError.invalidConfig(path: path, reason: "'\(key)' is not a number")
        }
    }

    func number(_ key: String, default value: Double? = nil) throws(FisherError) -> Double {
        if let v = try optionalNumber(key) { return v }
        guard let value else { throw FisherError.invalidConfig(path: path, reason: "'\(key)' is missing") }
        return value
    }

    func unsupported(_ reason: String) -> FisherError {
        .unsupportedArchitecture(path: path, modelType: modelType, reason: reason)
    }
}
