import Foundation

/// The fields of a Hugging Face `config.json` the native BERT encoder needs, checked against what it
/// implements: absolute position embeddings, token types, post-LayerNorm layers, exact (erf) GELU.
/// BERT (and MiniLM, which is a BERT) and ELECTRA (BERT's encoder, optionally with an embedding
/// projection, and a dense + GELU classification head instead of the pooler) have this layout.
public struct BertConfig: Sendable, Equatable {
    /// `model_type` values whose checkpoints have the BERT layout the native engine runs.
    public static let supportedModelTypes: Set<String> = ["bert", "electra"]

    public var modelType: String
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

    /// ELECTRA's classification head (dense + GELU + out_proj on [CLS]) instead of BERT's pooler.
    public var usesElectraHead: Bool { modelType == "electra" }

    public init(modelType: String = "bert", vocabSize: Int, hiddenSize: Int, embeddingSize: Int? = nil, numHiddenLayers: Int,
                numAttentionHeads: Int, intermediateSize: Int, maxPositionEmbeddings: Int = 512,
                typeVocabSize: Int = 2, layerNormEps: Float = 1e-12, initializerRange: Double = 0.02,
                numLabels: Int? = nil, labelToId: [String: Int] = [:], problemType: String? = nil) {
        self.modelType = modelType
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
        guard supportedModelTypes.contains(modelType) else {
            let architectures = root["architectures"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ", ") ?? ""
            throw .unsupportedArchitecture(path: path, modelType: modelType,
                                           reason: "the native engine runs BERT-family encoders (model_type bert or electra)\(architectures.isEmpty ? "" : "; this is \(architectures)")")
        }
        func int(_ key: String, default value: Int? = nil) throws(FisherError) -> Int {
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
        let hiddenAct = root["hidden_act"]?.stringValue ?? "gelu"
        guard hiddenAct == "gelu" else {
            throw .unsupportedArchitecture(path: path, modelType: modelType, reason: "hidden_act '\(hiddenAct)' (only the exact erf 'gelu' is implemented)")
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
        let config = BertConfig(
            modelType: modelType,
            vocabSize: try int("vocab_size"),
            hiddenSize: try int("hidden_size"),
            embeddingSize: try int("embedding_size", default: try int("hidden_size")),
            numHiddenLayers: try int("num_hidden_layers"),
            numAttentionHeads: try int("num_attention_heads"),
            intermediateSize: try int("intermediate_size"),
            maxPositionEmbeddings: try int("max_position_embeddings", default: 512),
            typeVocabSize: try int("type_vocab_size", default: 2),
            layerNormEps: Float(try number("layer_norm_eps", default: 1e-12)),
            initializerRange: try number("initializer_range", default: 0.02),
            numLabels: numLabels,
            labelToId: labelToId,
            problemType: root["problem_type"]?.stringValue)
        guard config.hiddenSize > 0, config.numAttentionHeads > 0, config.hiddenSize % config.numAttentionHeads == 0 else {
            throw .invalidConfig(path: path, reason: "hidden_size \(config.hiddenSize) is not a multiple of num_attention_heads \(config.numAttentionHeads)")
        }
        guard config.numHiddenLayers > 0, config.intermediateSize > 0, config.vocabSize > 0, config.typeVocabSize > 0, config.embeddingSize > 0 else {
            throw .invalidConfig(path: path, reason: "sizes must be positive")
        }
        guard config.maxPositionEmbeddings >= 3 else {
            throw .invalidConfig(path: path, reason: "max_position_embeddings \(config.maxPositionEmbeddings) leaves no room for a token between [CLS] and [SEP]")
        }
        return config
    }
}
