import Foundation

/// The fields of a Hugging Face `config.json` the native encoder needs, checked against what it
/// implements: absolute position embeddings, post-LayerNorm layers, exact (erf) GELU.
/// BERT (and MiniLM, which is a BERT), ELECTRA (BERT's encoder, optionally with an embedding
/// projection, and a dense + GELU classification head instead of the pooler), RoBERTa and XLM-R
/// (positions after the padding index, a dense + tanh head) and DistilBERT (no token types, a
/// dense + ReLU head; its `dim`/`n_layers`/... keys are read here) have this layout; see
/// ``EncoderArchitecture``.
public struct BertConfig: Sendable, Equatable {
    /// `model_type` values whose checkpoints have a layout the native engine runs.
    public static let supportedModelTypes = Set(EncoderArchitecture.supportedModelTypes)

    public var modelType: String
    public var architecture: EncoderArchitecture
    /// `pad_token_id`: RoBERTa's positions count from it (its `padding_idx`).
    public var padTokenId: Int
    /// DistilBERT's `sinusoidal_pos_embds`: the position table is fixed sines and cosines (computed
    /// when the checkpoint does not store it).
    public var sinusoidalPositions: Bool
    public var vocabSize: Int
    public var hiddenSize: Int
    /// Width of the embeddings (ELECTRA's `embedding_size`; BERT: the hidden size). When it differs
    /// from the hidden size, `embeddings_project` maps one to the other.
    public var embeddingSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var initializerRange: Double
    /// Number of labels the configuration declares (`id2label` or `num_labels`), if it does.
    public var numLabels: Int?
    /// `label2id`, used to read string labels in data files.
    public var labelToId: [String: Int]
    /// `problem_type` (`regression`, `single_label_classification`, ...), if set.
    public var problemType: String?

    public var headSize: Int { hiddenSize / numAttentionHeads }

    /// How positions are numbered.
    var positions: EncoderArchitecture.Positions {
        architecture == .roberta ? .afterPadding(paddingIdx: Int32(padTokenId)) : .sequential
    }

    /// Longest input, in tokens, the position table covers (RoBERTa's rows up to `padding_idx`
    /// are never used by a non-padding token).
    public var maxSequenceLength: Int {
        architecture == .roberta ? maxPositionEmbeddings - padTokenId - 1 : maxPositionEmbeddings
    }

    public init(modelType: String = "bert", vocabSize: Int, hiddenSize: Int, embeddingSize: Int? = nil, numHiddenLayers: Int,
                numAttentionHeads: Int, intermediateSize: Int, maxPositionEmbeddings: Int = 512,
                typeVocabSize: Int = 2, layerNormEps: Float = 1e-12, initializerRange: Double = 0.02,
                numLabels: Int? = nil, labelToId: [String: Int] = [:], problemType: String? = nil,
                padTokenId: Int = 0, sinusoidalPositions: Bool = false) {
        self.modelType = modelType
        architecture = EncoderArchitecture(modelType: modelType) ?? .bert
        self.padTokenId = padTokenId
        self.sinusoidalPositions = sinusoidalPositions
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.embeddingSize = embeddingSize ?? hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.initializerRange = initializerRange
        self.numLabels = numLabels
        self.labelToId = labelToId
        self.problemType = problemType
    }

    /// Reads `directory/config.json`.
    public static func load(directory: String) throws(FisherError) -> BertConfig {
        let path = directory + "/config.json"
        guard FileManager.default.fileExists(atPath: path) else { throw .missingConfig(directory: directory) }
        let data: [UInt8]
        do { data = try MappedFile.contents(of: path, maxBytes: WordPieceTokenizer.maxFileBytes) } catch {
            throw .invalidConfig(path: path, reason: "cannot read the file: \(error)")
        }
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch {
            throw .invalidConfig(path: path, reason: "JSON: \(error)")
        }
        return try parse(root, path: path)
    }

    /// Validates a parsed `config.json`.
    public static func parse(_ root: JSONValue, path: String) throws(FisherError) -> BertConfig {
        guard root.objectValue != nil else { throw .invalidConfig(path: path, reason: "not a JSON object") }
        let modelType = root["model_type"]?.stringValue ?? "?"
        guard let architecture = EncoderArchitecture(modelType: modelType) else {
            let architectures = root["architectures"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ", ") ?? ""
            throw .unsupportedArchitecture(path: path, modelType: modelType,
                                           reason: "the native engine runs BERT-family encoders (model_type bert, electra, roberta, xlm-roberta or distilbert)\(architectures.isEmpty ? "" : "; this is \(architectures)")")
        }
        let distil = architecture == .distilbert
        /// DistilBERT's own spelling of BERT's keys.
        let distilKeys = ["hidden_size": "dim", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads",
                          "intermediate_size": "hidden_dim", "hidden_act": "activation"]
        func key(_ bert: String) -> String { distil ? distilKeys[bert] ?? bert : bert }
        func int(_ name: String, default value: Int? = nil) throws(FisherError) -> Int {
            let key = key(name)
            if let v = root[key]?.intValue { return v }
            if let value, root[key] == nil || root[key] == .null { return value }
            throw .invalidConfig(path: path, reason: "'\(key)' is missing or not an integer")
        }
        func number(_ key: String, default value: Double) throws(FisherError) -> Double {
            switch root[key] {
            case nil, .null?: return value
            case let .integer(i)?: return Double(i)
            case let .number(d)?: return d
            default: throw .invalidConfig(path: path, reason: "'\(key)' is not a number")
            }
        }
        let hiddenAct = root[key("hidden_act")]?.stringValue ?? "gelu"
        guard hiddenAct == "gelu" else {
            throw .unsupportedArchitecture(path: path, modelType: modelType, reason: "\(key("hidden_act")) '\(hiddenAct)' (only the exact erf 'gelu' is implemented)")
        }
        let positions = root["position_embedding_type"]?.stringValue ?? "absolute"
        guard positions == "absolute" else {
            throw .unsupportedArchitecture(path: path, modelType: modelType, reason: "position_embedding_type '\(positions)' (only absolute is implemented)")
        }
        if case .bool(true)? = root["is_decoder"] {
            throw .unsupportedArchitecture(path: path, modelType: modelType, reason: "a decoder configuration (is_decoder true)")
        }
        var labelToId: [String: Int] = [:]
        for member in root["label2id"]?.objectValue ?? [] {
            if let id = member.value.intValue { labelToId[member.key] = id }
        }
        var numLabels: Int? = root["id2label"]?.objectValue.map(\.count)
        if let n = root["num_labels"]?.intValue { numLabels = n }
        // DistilBERT hard-codes its LayerNorm epsilon (1e-12) and has no token types.
        let config = BertConfig(
            modelType: modelType,
            vocabSize: try int("vocab_size"),
            hiddenSize: try int("hidden_size"),
            embeddingSize: try int("embedding_size", default: try int("hidden_size")),
            numHiddenLayers: try int("num_hidden_layers"),
            numAttentionHeads: try int("num_attention_heads"),
            intermediateSize: try int("intermediate_size"),
            maxPositionEmbeddings: try int("max_position_embeddings", default: 512),
            typeVocabSize: distil ? 1 : try int("type_vocab_size", default: 2),
            layerNormEps: distil ? 1e-12 : Float(try number("layer_norm_eps", default: 1e-12)),
            initializerRange: try number("initializer_range", default: 0.02),
            numLabels: numLabels,
            labelToId: labelToId,
            problemType: root["problem_type"]?.stringValue,
            padTokenId: try int("pad_token_id", default: architecture == .roberta ? 1 : 0),
            sinusoidalPositions: root["sinusoidal_pos_embds"] == .bool(true))
        guard config.hiddenSize > 0, config.numAttentionHeads > 0, config.hiddenSize % config.numAttentionHeads == 0 else {
            throw .invalidConfig(path: path, reason: "hidden_size \(config.hiddenSize) is not a multiple of num_attention_heads \(config.numAttentionHeads)")
        }
        guard config.numHiddenLayers > 0, config.intermediateSize > 0, config.vocabSize > 0, config.typeVocabSize > 0, config.embeddingSize > 0 else {
            throw .invalidConfig(path: path, reason: "sizes must be positive")
        }
        guard architecture != .roberta || (0..<config.vocabSize).contains(config.padTokenId) else {
            throw .invalidConfig(path: path, reason: "pad_token_id \(config.padTokenId) is outside the vocabulary (\(config.vocabSize) tokens)")
        }
        guard config.maxSequenceLength >= 3 else {
            throw .invalidConfig(path: path, reason: "max_position_embeddings \(config.maxPositionEmbeddings) leaves no room for a token between [CLS] and [SEP]")
        }
        return config
    }
}
