import Foundation

/// The parameters Fisher information can be computed for: every LayerNorm weight and bias and
/// every bias of a `BertForSequenceClassification`.
public enum BertParameter: Hashable, Sendable {
    case embeddingsNorm(bias: Bool)
    /// ELECTRA's `embeddings_project` bias (only when the embedding size differs from the hidden size).
    case embeddingsProjectionBias
    case attentionNorm(layer: Int, bias: Bool)
    case outputNorm(layer: Int, bias: Bool)
    case queryBias(layer: Int)
    case keyBias(layer: Int)
    case valueBias(layer: Int)
    case attentionOutputBias(layer: Int)
    case intermediateBias(layer: Int)
    case outputBias(layer: Int)
    case poolerBias
    case classifierBias

    /// Whether this is a LayerNorm parameter (weight or bias).
    public var isLayerNorm: Bool {
        switch self {
        case .embeddingsNorm, .attentionNorm, .outputNorm: return true
        default: return false
        }
    }

    /// Whether this is a bias vector (LayerNorm biases included).
    public var isBias: Bool {
        switch self {
        case let .embeddingsNorm(bias), let .attentionNorm(_, bias), let .outputNorm(_, bias): return bias
        default: return true
        }
    }

    /// The encoder layer the parameter belongs to, if any.
    public var layer: Int? {
        switch self {
        case let .attentionNorm(l, _), let .outputNorm(l, _), let .queryBias(l), let .keyBias(l), let .valueBias(l),
             let .attentionOutputBias(l), let .intermediateBias(l), let .outputBias(l):
            return l
        default: return nil
        }
    }

    /// The name `BertForSequenceClassification` gives the parameter, without the `bert.` prefix
    /// (the classifier has none). For ELECTRA the head's biases are `classifier.dense.bias`
    /// (``poolerBias``) and `classifier.out_proj.bias` (``classifierBias``); ``BertEncoder/name(of:)``
    /// gives the names a checkpoint actually uses.
    public var canonicalName: String {
        func wb(_ bias: Bool) -> String { bias ? "bias" : "weight" }
        switch self {
        case let .embeddingsNorm(b): return "embeddings.LayerNorm.\(wb(b))"
        case .embeddingsProjectionBias: return "embeddings_project.bias"
        case let .attentionNorm(l, b): return "encoder.layer.\(l).attention.output.LayerNorm.\(wb(b))"
        case let .outputNorm(l, b): return "encoder.layer.\(l).output.LayerNorm.\(wb(b))"
        case let .queryBias(l): return "encoder.layer.\(l).attention.self.query.bias"
        case let .keyBias(l): return "encoder.layer.\(l).attention.self.key.bias"
        case let .valueBias(l): return "encoder.layer.\(l).attention.self.value.bias"
        case let .attentionOutputBias(l): return "encoder.layer.\(l).attention.output.dense.bias"
        case let .intermediateBias(l): return "encoder.layer.\(l).intermediate.dense.bias"
        case let .outputBias(l): return "encoder.layer.\(l).output.dense.bias"
        case .poolerBias: return "pooler.dense.bias"
        case .classifierBias: return "classifier.bias"
        }
    }

    /// Every parameter of a model with `layers` encoder layers, bottom to top.
    public static func all(layers: Int, embeddingProjection: Bool = false) -> [BertParameter] {
        var out: [BertParameter] = [.embeddingsNorm(bias: false), .embeddingsNorm(bias: true)]
        if embeddingProjection { out.append(.embeddingsProjectionBias) }
        for l in 0..<layers {
            out += [.queryBias(layer: l), .keyBias(layer: l), .valueBias(layer: l), .attentionOutputBias(layer: l),
                    .attentionNorm(layer: l, bias: false), .attentionNorm(layer: l, bias: true),
                    .intermediateBias(layer: l), .outputBias(layer: l),
                    .outputNorm(layer: l, bias: false), .outputNorm(layer: l, bias: true)]
        }
        return out + [.poolerBias, .classifierBias]
    }
}

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

/// Standard normal numbers from a SplitMix64 stream (Box-Muller), for fresh heads.
struct NormalGenerator {
    private var state: UInt64
    private var spare: Double?

    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    mutating func nextUInt64() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next() -> Double {
        if let s = spare { spare = nil; return s }
        let u1 = (Double(nextUInt64() >> 11) + 1) / 9_007_199_254_740_993.0
        let u2 = Double(nextUInt64() >> 11) / 9_007_199_254_740_992.0
        let r = (-2 * Foundation.log(u1)).squareRoot()
        spare = r * Foundation.sin(2 * .pi * u2)
        return r * Foundation.cos(2 * .pi * u2)
    }
}

/// A heap buffer of `Float` with a stable address, for weights and reusable activations.
final class FloatStorage: @unchecked Sendable {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var count: Int

    /// `count` zeros.
    init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    convenience init(concatenating parts: [FloatStorage]) {
        self.init(count: parts.reduce(0) { $0 + $1.count })
        var offset = 0
        for part in parts {
            (pointer + offset).update(from: part.pointer, count: part.count)
            offset += part.count
        }
    }

    /// Grows (without keeping the contents) to hold at least `needed` values.
    func reserve(_ needed: Int) {
        guard needed > count else { return }
        pointer.deallocate()
        count = needed
        pointer = .allocate(capacity: needed)
        pointer.initialize(repeating: 0, count: needed)
    }

    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    deinit { pointer.deallocate() }
}
