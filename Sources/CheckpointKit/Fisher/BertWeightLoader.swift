import Foundation

/// Reads the encoder's weights by canonical name in BERT's spelling (any model prefix, legacy
/// `gamma`/`beta`, DistilBERT's module names, TensorFlow kernels transposed on load) and remembers the stored name of every trainable
/// parameter it read, so that a Fisher file uses the checkpoint's own names.
final class BertWeightLoader {
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
                // A training wrapper's prefix (`module.` of DataParallel, ...) is not part of the model's names.
                let canonical = ParameterNames.canonicalize(TrainingWrappers.strip(tensor.name)?.name ?? tensor.name)
                var name = config.architecture.bertSpelling(of: canonical.name)
                if canonical.isTFKernel { tfKernels.insert(tensor.name) }
                if name.hasSuffix(".gamma") { name = String(name.dropLast(6)) + ".weight" }
                if name.hasSuffix(".beta") { name = String(name.dropLast(5)) + ".bias" }
                if byName[name] == nil { byName[name] = (tensor, checkpoint) }
            }
        }
    }

    /// The tensor `canonical` decoded to `Float` in PyTorch layout `shape`; refused when it holds
    /// NaN or an infinity.
    func load(_ canonical: String, _ shape: [Int], as parameter: BertParameter? = nil) throws -> [Float] {
        guard let (tensor, checkpoint) = byName[canonical] else {
            throw FisherError.missingTensor(path: displayPath, tensor: canonical)
        }
        if let parameter { stored[parameter] = tensor.name }
        let values = try decode(tensor, checkpoint, shape)
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw FisherError.nonFiniteWeight(path: displayPath, tensor: tensor.name, index: bad)
        }
        return values
    }

    private func decode(_ tensor: TensorInfo, _ checkpoint: any Checkpoint, _ shape: [Int]) throws -> [Float] {
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

    /// The checkpoint's head, or a fresh one (`freshHead`) when it has none. BERT's pooler belongs
    /// to the base model and is always read; the other architectures' dense layer is part of the head.
    func head(freshHead: (numLabels: Int, seed: UInt64)?) throws -> Head {
        let h = config.hiddenSize, taskDense = config.architecture.headDenseIsTaskHead
        let (denseName, outName) = config.architecture.headNames
        let dense: Linear? = taskDense ? nil : try linear(denseName, out: h, in: h, bias: .poolerBias)
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
        if taskDense {
            pooler = Linear(weight: normal(h * h), bias: FloatStorage(count: h), outFeatures: h, inFeatures: h)
            stored[.poolerBias] = denseName + ".bias"
        }
        let classifier = Linear(weight: normal(labels * h), bias: FloatStorage(count: labels), outFeatures: labels, inFeatures: h)
        stored[.classifierBias] = outName + ".bias"
        return Head(pooler: pooler!, classifier: classifier, numLabels: labels, isFresh: true)
    }

    /// The position table: stored, or for DistilBERT's `sinusoidal_pos_embds` computed when absent
    /// (`sin(pos / 10000^(2i/dim))` in even columns, `cos` in odd ones, as transformers builds it).
    func positionEmbeddings() throws -> [Float] {
        let rows = config.maxPositionEmbeddings, e = config.embeddingSize
        let name = "embeddings.position_embeddings.weight"
        guard byName[name] == nil, config.sinusoidalPositions else { return try load(name, [rows, e]) }
        var table = [Float](repeating: 0, count: rows * e)
        for pos in 0..<rows {
            for j in 0..<e {
                let angle = Double(pos) / pow(10000, Double(2 * (j / 2)) / Double(e))
                table[pos * e + j] = Float(j % 2 == 0 ? sin(angle) : cos(angle))
            }
        }
        return table
    }

    /// The token-type table, or one zero row for an architecture without token types.
    func tokenTypeEmbeddings() throws -> [Float] {
        let e = config.embeddingSize
        guard config.architecture.hasTokenTypes else { return [Float](repeating: 0, count: e) }
        return try load("embeddings.token_type_embeddings.weight", [config.typeVocabSize, e])
    }
}
