import Foundation

/// The weights of a `BertForSequenceClassification` (or a `BertModel` plus a fresh head), or of the
/// ELECTRA, RoBERTa / XLM-R and DistilBERT equivalents (``EncoderArchitecture``), decoded to `Float`,
/// with the names the checkpoint gives them.
///
/// Names may carry a model prefix or not, and LayerNorms may use the legacy `gamma`/`beta`.
public final class BertEncoder: @unchecked Sendable {
    struct Linear {
        var weight: FloatStorage  // [out, in], row-major
        var bias: FloatStorage
        var outFeatures: Int
        var inFeatures: Int
    }

    struct Norm {
        var weight: FloatStorage
        var bias: FloatStorage
    }

    struct Layer {
        /// Query, key and value stacked: `[3H, H]` and `[3H]`.
        var qkv: Linear
        var attentionOutput: Linear
        var attentionNorm: Norm
        var intermediate: Linear
        var output: Linear
        var outputNorm: Norm
    }

    public let config: BertConfig
    /// The directory or weights file the model came from.
    public let path: String
    /// Number of outputs of the classification head (1 = regression).
    public let numLabels: Int
    /// Whether the head was initialised here rather than read from the checkpoint.
    public let headIsFresh: Bool

    let wordEmbeddings: FloatStorage
    let positionEmbeddings: FloatStorage
    let tokenTypeEmbeddings: FloatStorage
    let embeddingsNorm: Norm
    /// ELECTRA's projection from the embedding size to the hidden size, if they differ.
    let embeddingsProjection: Linear?
    let layers: [Layer]
    /// The head's dense layer on the first token: BERT's pooler (tanh), ELECTRA's and RoBERTa's
    /// `classifier.dense` (GELU, tanh), DistilBERT's `pre_classifier` (ReLU).
    let pooler: Linear
    /// `classifier` (BERT, DistilBERT) or `classifier.out_proj` (ELECTRA, RoBERTa).
    let classifier: Linear

    /// The parameters this model has, bottom to top.
    public var parameters: [BertParameter] {
        BertParameter.all(layers: config.numHiddenLayers, embeddingProjection: embeddingsProjection != nil)
    }
    /// Name of each parameter as stored in the checkpoint (or as a fresh head is named).
    private let storedNames: [BertParameter: String]

    /// The checkpoint's name for `parameter`.
    public func name(of parameter: BertParameter) -> String { storedNames[parameter] ?? parameter.canonicalName }

    /// Number of entries of `parameter`.
    public func elementCount(of parameter: BertParameter) -> Int {
        switch parameter {
        case .intermediateBias: return config.intermediateSize
        case .classifierBias: return numLabels
        case .embeddingsNorm: return config.embeddingSize
        default: return config.hiddenSize
        }
    }

    /// Checks the label count of a fresh head: at least one class (a regression head has one).
    public static func checkFreshHead(numLabels: Int) throws(FisherError) {
        guard numLabels >= 1 else { throw .invalidLabelCount(numLabels) }
    }

    /// Loads a model directory: `config.json` and the weights ``CheckpointOpener`` finds there
    /// (safetensors, sharded safetensors, or a TensorFlow `tf_model.h5`, whose kernels are transposed
    /// on load). Names may carry a model prefix (`bert.`, `electra.`) or none, and LayerNorms the
    /// legacy `gamma`/`beta`.
    /// - Parameters:
    ///   - freshHead: `(numLabels, seed)` to initialise a head when the checkpoint has none (normal
    ///     with the config's `initializer_range`, zero bias, as transformers does; the values come from
    ///     our own generator and are not bit-identical to torch's). Ignored when the checkpoint has a head.
    public convenience init(directory: String, freshHead: (numLabels: Int, seed: UInt64)? = nil) throws {
        let config = try BertConfig.load(directory: directory)
        let checkpoint = try CheckpointOpener.open(directory)
        try self.init(config: config, checkpoints: [checkpoint], path: directory, freshHead: freshHead)
    }

    init(config: BertConfig, checkpoints: [any Checkpoint], path: String, freshHead: (numLabels: Int, seed: UInt64)?) throws {
        self.config = config
        self.path = path
        let loader = BertWeightLoader(config: config, checkpoints: checkpoints, path: path)
        let h = config.hiddenSize, emb = config.embeddingSize
        wordEmbeddings = FloatStorage(try loader.load("embeddings.word_embeddings.weight", [config.vocabSize, emb]))
        positionEmbeddings = FloatStorage(try loader.positionEmbeddings())
        tokenTypeEmbeddings = FloatStorage(try loader.tokenTypeEmbeddings())
        embeddingsNorm = try loader.norm("embeddings.LayerNorm", weight: .embeddingsNorm(bias: false), bias: .embeddingsNorm(bias: true), size: emb)
        embeddingsProjection = emb == h ? nil : try loader.linear("embeddings_project", out: h, in: emb, bias: .embeddingsProjectionBias)
        layers = try (0..<config.numHiddenLayers).map { try loader.layer($0) }
        let head = try loader.head(freshHead: freshHead)
        pooler = head.pooler
        classifier = head.classifier
        numLabels = head.numLabels
        headIsFresh = head.isFresh
        storedNames = loader.stored
    }
}
