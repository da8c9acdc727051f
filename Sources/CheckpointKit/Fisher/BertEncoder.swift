import Foundation

/// The weights of a `BertForSequenceClassification` (or a `BertModel` plus a fresh head), decoded to
/// `Float`, with the names the checkpoint gives them.
///
/// Names may carry the `bert.` prefix or not, and LayerNorms may use the legacy `gamma`/`beta`.
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
    /// BERT's pooler (tanh) or ELECTRA's `classifier.dense` (GELU), applied to [CLS].
    let pooler: Linear
    /// `classifier` (BERT) or `classifier.out_proj` (ELECTRA).
    let classifier: Linear
    /// Whether the head is ELECTRA's (GELU after `pooler`) rather than BERT's (tanh).
    let electraHead: Bool

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
        positionEmbeddings = FloatStorage(try loader.load("embeddings.position_embeddings.weight", [config.maxPositionEmbeddings, emb]))
        tokenTypeEmbeddings = FloatStorage(try loader.load("embeddings.token_type_embeddings.weight", [config.typeVocabSize, emb]))
        embeddingsNorm = try loader.norm("embeddings.LayerNorm", weight: .embeddingsNorm(bias: false), bias: .embeddingsNorm(bias: true), size: emb)
        embeddingsProjection = emb == h ? nil : try loader.linear("embeddings_project", out: h, in: emb, bias: .embeddingsProjectionBias)
        layers = try (0..<config.numHiddenLayers).map { try loader.layer($0) }
        electraHead = config.usesElectraHead
        let head = try loader.head(freshHead: freshHead)
        pooler = head.pooler
        classifier = head.classifier
        numLabels = head.numLabels
        headIsFresh = head.isFresh
        storedNames = loader.stored
    }
}

/// Reads the encoder's weights by canonical name (any model prefix, legacy `gamma`/`beta`,
/// TensorFlow kernels transposed on load) and remembers the stored name of every trainable
/// parameter it read, so that a Fisher file uses the checkpoint's own names.
private final class BertWeightLoader {
    typealias Linear = BertEncoder.Linear
    let config: BertConfig
    /// The file named in errors (the checkpoint's, or the directory's for several).
    let displayPath: String
    /// canonical name -> (tensor, checkpoint)
    var byName: [String: (TensorInfo, any Checkpoint)] = [:]
    /// Stored names of TensorFlow kernels (transposed weights).
    var tfKernels = Set<String>()
    var stored: [BertParameter: String] = [:]

    init(config: BertConfig, checkpoints: [any Checkpoint], path: String) {
        self.config = config
        displayPath = checkpoints.count == 1 ? checkpoints[0].path : path
        for checkpoint in checkpoints {
            for tensor in checkpoint.tensors {
                let canonical = ParameterNames.canonicalize(tensor.name)
                var name = canonical.name
                if canonical.isTFKernel { tfKernels.insert(tensor.name) }
                if name.hasSuffix(".gamma") { name = String(name.dropLast(6)) + ".weight" }
                if name.hasSuffix(".beta") { name = String(name.dropLast(5)) + ".bias" }
                if byName[name] == nil { byName[name] = (tensor, checkpoint) }
            }
        }
    }

    func load(_ canonical: String, _ shape: [Int], as parameter: BertParameter? = nil) throws -> [Float] {
        guard let (tensor, checkpoint) = byName[canonical] else {
            throw FisherError.missingTensor(path: displayPath, tensor: canonical)
        }
        if let parameter { stored[parameter] = tensor.name }
        let isKernel = tfKernels.contains(tensor.name)
        if !isKernel && (tensor.shape == shape || (tensor.elementCount == shape.reduce(1, *) && shape.count == 1)) {
            return try TensorDecoder.floats(of: tensor, in: checkpoint)
        }
        // A TensorFlow kernel: (in, out) (or (in, heads, head_size)) holding the transposed weight.
        if isKernel, case let .transposed(rows, columns)? = CheckpointAlignment.transposedLayout(kernel: tensor.shape, weight: shape) {
            let kernel = try TensorDecoder.floats(of: tensor, in: checkpoint)
            return [Float](unsafeUninitializedCapacity: kernel.count) { weight, count in
                kernel.withUnsafeBytes { source in
                    ElementTransposition.transpose(source, rows: rows, columns: columns, width: 4, into: UnsafeMutableRawBufferPointer(weight))
                }
                count = kernel.count
            }
        }
        throw FisherError.wrongShape(path: displayPath, tensor: tensor.name, expected: shape, actual: tensor.shape)
    }

    func linear(_ prefix: String, out: Int, in inF: Int, bias parameter: BertParameter) throws -> Linear {
        Linear(weight: FloatStorage(try load(prefix + ".weight", [out, inF])),
               bias: FloatStorage(try load(prefix + ".bias", [out], as: parameter)), outFeatures: out, inFeatures: inF)
    }

    func norm(_ prefix: String, weight: BertParameter, bias: BertParameter, size: Int? = nil) throws -> BertEncoder.Norm {
        let n = size ?? config.hiddenSize
        return BertEncoder.Norm(weight: FloatStorage(try load(prefix + ".weight", [n], as: weight)), bias: FloatStorage(try load(prefix + ".bias", [n], as: bias)))
    }

    /// Transformer layer `l`, its query, key and value projections fused into one.
    func layer(_ l: Int) throws -> BertEncoder.Layer {
        let h = config.hiddenSize, inter = config.intermediateSize
        let p = "encoder.layer.\(l)."
        let q = try linear(p + "attention.self.query", out: h, in: h, bias: .queryBias(layer: l))
        let k = try linear(p + "attention.self.key", out: h, in: h, bias: .keyBias(layer: l))
        let v = try linear(p + "attention.self.value", out: h, in: h, bias: .valueBias(layer: l))
        return BertEncoder.Layer(
            qkv: Linear(weight: FloatStorage(concatenating: [q.weight, k.weight, v.weight]),
                        bias: FloatStorage(concatenating: [q.bias, k.bias, v.bias]), outFeatures: 3 * h, inFeatures: h),
            attentionOutput: try linear(p + "attention.output.dense", out: h, in: h, bias: .attentionOutputBias(layer: l)),
            attentionNorm: try norm(p + "attention.output.LayerNorm", weight: .attentionNorm(layer: l, bias: false), bias: .attentionNorm(layer: l, bias: true)),
            intermediate: try linear(p + "intermediate.dense", out: inter, in: h, bias: .intermediateBias(layer: l)),
            output: try linear(p + "output.dense", out: h, in: inter, bias: .outputBias(layer: l)),
            outputNorm: try norm(p + "output.LayerNorm", weight: .outputNorm(layer: l, bias: false), bias: .outputNorm(layer: l, bias: true)))
    }

    /// The classification head: the pooler (ELECTRA: the head's dense layer) and the output layer.
    struct Head {
        var pooler: Linear
        var classifier: Linear
        var numLabels: Int
        var isFresh: Bool
    }

    /// The checkpoint's head, or a fresh one (`freshHead`) when it has none.
    func head(freshHead: (numLabels: Int, seed: UInt64)?) throws -> Head {
        let h = config.hiddenSize, electra = config.usesElectraHead
        let (denseName, outName) = electra ? ("classifier.dense", "classifier.out_proj") : ("pooler.dense", "classifier")
        let dense: Linear? = electra ? nil : try linear(denseName, out: h, in: h, bias: .poolerBias)
        if let (weight, _) = byName[outName + ".weight"], byName[outName + ".bias"] != nil {
            // PyTorch stores [labels, hidden]; a TensorFlow kernel [hidden, labels].
            let isKernel = tfKernels.contains(weight.name)
            let (labels, inFeatures) = weight.shape.count == 2 ? (isKernel ? (weight.shape[1], weight.shape[0]) : (weight.shape[0], weight.shape[1])) : (0, 0)
            guard inFeatures == h, labels >= 1 else {
                throw FisherError.wrongShape(path: displayPath, tensor: weight.name, expected: [config.numLabels ?? 2, h], actual: weight.shape)
            }
            let pooler = try dense ?? linear(denseName, out: h, in: h, bias: .poolerBias)
            let classifier = try linear(outName, out: labels, in: h, bias: .classifierBias)
            return Head(pooler: pooler, classifier: classifier, numLabels: labels, isFresh: false)
        }
        guard let freshHead else { throw FisherError.noHead(path: displayPath, tensor: outName) }
        try BertEncoder.checkFreshHead(numLabels: freshHead.numLabels)
        let labels = freshHead.numLabels
        var rng = NormalGenerator(seed: freshHead.seed)
        func normal(_ count: Int) -> FloatStorage {
            FloatStorage((0..<count).map { _ in Float(rng.next() * config.initializerRange) })
        }
        var pooler = dense
        if electra {
            pooler = Linear(weight: normal(h * h), bias: FloatStorage(count: h), outFeatures: h, inFeatures: h)
            stored[.poolerBias] = denseName + ".bias"
        }
        let classifier = Linear(weight: normal(labels * h), bias: FloatStorage(count: labels), outFeatures: labels, inFeatures: h)
        stored[.classifierBias] = outName + ".bias"
        return Head(pooler: pooler!, classifier: classifier, numLabels: labels, isFresh: true)
    }
}
