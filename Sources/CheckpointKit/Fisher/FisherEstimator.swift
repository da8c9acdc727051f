import Dispatch
import Foundation

/// Estimates the diagonal Fisher information of LayerNorm and/or bias parameters of a BERT
/// sequence classifier from per-example gradients: the mean over examples of each example's own
/// squared gradient of log p, never the square of a batch gradient.
///
/// Batches run forward together; the backward pass is linear in the logit gradient, so one backward
/// per seed gives every example's gradient (summed over its own rows only). The empirical Fisher
/// needs one backward (seed e_y - p); the expected one needs C - 1 (seeds e_k - e_{C-1}, from which
/// each class's e_c - p is combined exactly); a regression head one (seed 1, scaled by (y - f)^2
/// for the empirical kind, whose log-likelihood is -(y - f)^2 / 2). Sums are kept in `Double`.
public final class FisherEstimator {
    public let model: BertEncoder
    public let tokenizer: (any TextTokenizer)?
    public let options: FisherOptions

    /// The parameters the estimate covers, bottom to top.
    public var parameters: [BertParameter] {
        model.parameters.filter(options.parameters.includes)
    }

    public init(model: BertEncoder, tokenizer: (any TextTokenizer)?, options: FisherOptions = FisherOptions()) {
        self.model = model
        self.tokenizer = tokenizer
        self.options = options
    }

    /// One example ready for the model.
    public struct EncodedExample: Sendable {
        public var input: TokenizedInput
        /// Class index, or the target of a regression head.
        public var label: Double
        public var line: Int
    }

    /// Tokenizes the examples the estimate will use and checks their labels and ids against the
    /// model. Errors name the data file and line.
    public func encode(_ dataset: TaskDataset) throws(FisherError) -> [EncodedExample] {
        let config = model.config
        let maxLength = min(options.maxLength, config.maxSequenceLength)
        try options.validate()
        if options.kind == .sampled { throw .unsupportedKind(path: model.path, kind: "sampled", reason: "an encoder's expected Fisher is computed exactly (the expected kind)") }
        let examples = options.samples.map { Array(dataset.examples.prefix($0)) } ?? dataset.examples
        guard !examples.isEmpty else { throw .emptyData(path: dataset.path) }
        var out: [EncodedExample] = []
        out.reserveCapacity(examples.count)
        for example in examples {
            let label = try resolveLabel(example.label, path: dataset.path, line: example.line)
            var input: TokenizedInput
            if let ids = example.inputIds {
                let n = min(ids.count, maxLength)
                input = TokenizedInput(inputIds: Array(ids.prefix(n)),
                                       tokenTypeIds: example.tokenTypeIds.map { Array($0.prefix(n)) } ?? [Int32](repeating: 0, count: n))
            } else {
                guard let tokenizer else { throw .missingTokenizer(directory: model.path) }
                input = tokenizer.encode(example.text ?? "", pair: example.textPair, maxLength: maxLength)
            }
            // DistilBERT takes no token types: a BERT tokenizer's pair types (or a JSONL file's) do not apply.
            if !config.architecture.hasTokenTypes { input.tokenTypeIds = [Int32](repeating: 0, count: input.inputIds.count) }
            if let bad = input.inputIds.first(where: { Int($0) >= config.vocabSize }) {
                throw .invalidData(path: dataset.path, line: example.line, reason: "token id \(bad) is outside the vocabulary (\(config.vocabSize) tokens)")
            }
            if let bad = input.tokenTypeIds.first(where: { Int($0) >= config.typeVocabSize }) {
                throw .invalidData(path: dataset.path, line: example.line, reason: "token type \(bad) is outside 0..<\(config.typeVocabSize)")
            }
            out.append(EncodedExample(input: input, label: label, line: example.line))
        }
        return out
    }

    func resolveLabel(_ text: String, path: String, line: Int) throws(FisherError) -> Double {
        if model.numLabels == 1 {
            guard let value = Double(text), value.isFinite else {
                throw .invalidData(path: path, line: line, reason: "label '\(text)' is not a number (the head is a regression head)")
            }
            return value
        }
        var index: Int? = options.labelNames?.firstIndex(of: text)
        if index == nil { index = Int(text) }
        if index == nil, let d = Double(text), d == d.rounded(), abs(d) < 1e9 { index = Int(d) }
        if index == nil { index = model.config.labelToId[text] }
        guard let index, (0..<model.numLabels).contains(index) else {
            throw .labelOutOfRange(path: path, line: line, label: text, numLabels: model.numLabels)
        }
        return Double(index)
    }

    /// Runs the estimate over `examples` (see ``encode(_:)``).
    /// - Parameter progress: called after each batch with (examples done, total).
    public func estimate(_ examples: [EncodedExample], progress: ((Int, Int) -> Void)? = nil) -> [FisherTensor] {
        tensors(from: sums(examples, reproducible: options.reproducible, progress: progress), count: examples.count)
    }

    /// The exact sums over `examples` of each example's squared gradient (or, for the expected
    /// kind, its label-weighted squares): the part of the estimate a shard computes. Each example's
    /// terms depend on that example alone, and the sums are exact, so any split of the examples
    /// adds up to the same sums when `reproducible` (row-deterministic dense layers, see ``BLAS``).
    ///
    /// Runs the batches on ``BLAS/threadCount`` workers, each with its own runner, buffers and exact
    /// sums, and OpenBLAS on one thread per call: a whole batch (attention, LayerNorm, GELU, the
    /// per-example sums, not only the dense products) then runs in parallel, and the small dense
    /// products run at one thread's full speed instead of splitting each one over the cores. Batches
    /// are the same as on one thread and each example's terms depend on it alone; the exact sums
    /// add up to the same bits in any order.
    func sums(_ examples: [EncodedExample], reproducible: Bool, progress: ((Int, Int) -> Void)? = nil) -> FisherExactSums {
        let layout = GradientLayout(model: model, parameters: parameters)
        let batchSize = max(1, options.batchSize)
        let batches = Swift.stride(from: 0, to: examples.count, by: batchSize).map { $0..<Swift.min($0 + batchSize, examples.count) }
        let workers = Swift.max(1, Swift.min(BLAS.threadCount, batches.count))
        let queue = BatchQueue(batches: batches, total: examples.count, progress: progress)
        guard workers > 1 else {
            return BLAS.$rowDeterministic.withValue(reproducible) { sums(examples, layout: layout, queue: queue) }
        }
        var partials = [FisherExactSums?](repeating: nil, count: workers)
        BLAS.withThreadCount(1) {
            partials.withUnsafeMutableBufferPointer { out in
                nonisolated(unsafe) let out = out, me = self
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    // A task-local binding does not reach Dispatch's worker threads: bind it in each.
                    out[w] = BLAS.$rowDeterministic.withValue(reproducible) { me.sums(examples, layout: layout, queue: queue) }
                }
            }
        }
        var total = FisherExactSums(count: layout.total)
        for partial in partials { total.add(partial!) }
        total.normalize()
        return total
    }

    /// One worker: takes batches from `queue` until none is left; returns their exact sums (normalized).
    private func sums(_ examples: [EncodedExample], layout: GradientLayout, queue: BatchQueue) -> FisherExactSums {
        let runner = BertRunner(model: model)
        let workspace = BackwardWorkspace()
        var scratch = Scratch(labels: model.numLabels, width: layout.total, batchSize: Swift.max(1, options.batchSize), kind: options.kind)
        var sums = FisherExactSums(count: layout.total)
        while let range = queue.next() {
            var batch = PackedBatch()
            for e in range { batch.append(examples[e].input) }
            let logits = runner.forward(batch)
            backward(logits: logits, examples: examples[range], runner: runner, layout: layout, workspace: workspace, scratch: &scratch)
            accumulate(logits: logits, examples: examples[range], scratch: &scratch, into: &sums)
            queue.finished(range.count)
        }
        sums.normalize()
        return sums
    }

    /// The Fisher: `sums` (normalized) divided by the number of examples, one tensor per parameter.
    func tensors(from sums: FisherExactSums, count: Int) -> [FisherTensor] {
        let layout = GradientLayout(model: model, parameters: parameters)
        return FisherExactSums.tensors(sums, names: parameters.map { model.name(of: $0) },
                                       counts: parameters.map { layout.counts[$0]! }, examples: count)
    }

    /// The buffers an estimate reuses from batch to batch.
    struct Scratch {
        /// Outputs of the head (C) and gradient entries per example.
        let labels: Int, width: Int
        /// Backward passes per batch: 1, or C - 1 for the expected Fisher of a classifier.
        let seedCount: Int
        /// One gradient row per example for each seed, `[batch, width]`.
        let grads: [ScratchBuffer]
        /// The logit gradient a backward pass starts from, `[batch, C]`.
        let seed: ScratchBuffer
        var probabilities: [Double]

        init(labels c: Int, width: Int, batchSize: Int, kind: FisherKind) {
            labels = c
            self.width = width
            seedCount = c == 1 ? 1 : (kind == .empirical ? 1 : c - 1)
            grads = (0..<seedCount).map { _ in ScratchBuffer(floats: batchSize * width) }
            seed = ScratchBuffer(floats: batchSize * c)
            probabilities = [Double](repeating: 0, count: c)
        }
    }

    /// One backward pass per seed over the batch, each example's gradient into its own row of
    /// `scratch.grads[seed]`. Seeds are gradients of log p (or of f) with respect to the logits.
    func backward(logits: UnsafePointer<Float>, examples: ArraySlice<EncodedExample>, runner: BertRunner,
                  layout: GradientLayout, workspace: BackwardWorkspace, scratch: inout Scratch) {
        let c = scratch.labels, seed = scratch.seed
        for s in 0..<scratch.seedCount {
            for (e, example) in examples.enumerated() {
                let row = seed.pointer + e * c
                if c == 1 {
                    row[0] = 1
                } else if options.kind == .empirical {
                    Self.softmax(logits + e * c, count: c, into: &scratch.probabilities)
                    let y = Int(example.label)
                    for k in 0..<c { row[k] = Float((k == y ? 1 : 0) - scratch.probabilities[k]) }
                } else {
                    for k in 0..<c { row[k] = k == s ? 1 : (k == c - 1 ? -1 : 0) }
                }
            }
            runner.backward(seed: seed.pointer, layout: layout, into: scratch.grads[s].pointer, workspace: workspace)
        }
    }

    /// Adds the batch's squared per-example gradients to `sums`.
    func accumulate(logits: UnsafePointer<Float>, examples: ArraySlice<EncodedExample>, scratch: inout Scratch, into sums: inout FisherExactSums) {
        let c = scratch.labels, width = scratch.width, seedCount = scratch.seedCount, grads = scratch.grads
        for (e, example) in examples.enumerated() {
            if c == 1 || options.kind == .empirical {
                let f = Double(logits[e])
                let scale = c == 1 && options.kind == .empirical ? (example.label - f) * (example.label - f) : 1
                let g = grads[0].pointer + e * width
                sums.addRow { j in
                    let v = Double(g[j])
                    return scale * v * v
                }
            } else {
                // grad log p(c) = sum_k (delta_ck - p_k) V_k, V_k = backward(e_k - e_{C-1}).
                Self.softmax(logits + e * c, count: c, into: &scratch.probabilities)
                let rows = grads.map { $0.pointer + e * width }
                for cls in 0..<c {
                    let pc = scratch.probabilities[cls]
                    let weights = (0..<seedCount).map { k in (k == cls ? 1 : 0) - scratch.probabilities[k] }
                    sums.addRow { j in
                        var v = 0.0
                        for k in 0..<seedCount { v += weights[k] * Double(rows[k][j]) }
                        return pc * v * v
                    }
                }
            }
        }
    }

    /// Tokenizes, runs and packages the estimate with its file metadata.
    public func run(dataset: TaskDataset, progress: ((Int, Int) -> Void)? = nil) throws(FisherError) -> FisherResult {
        let examples = try encode(dataset)
        let tensors = estimate(examples, progress: progress)
        return FisherResult(tensors: tensors, metadata: metadata(dataset: dataset, samples: examples.count,
                                                                 reproducible: options.reproducible))
    }

    /// Tokenizes every example (to fingerprint them all), runs the estimate over `shard`'s and
    /// packages its exact sums with the one-run metadata and the run's fingerprints.
    public func run(dataset: TaskDataset, shard: FisherShard, progress: ((Int, Int) -> Void)? = nil) throws -> FisherShardResult {
        let examples = try encode(dataset)
        let fingerprints = try FisherShardIdentity.fingerprints(model: model, dataPath: dataset.path, examples: examples)
        let mine = examples.indices.filter(shard.includes).map { examples[$0] }
        let layout = GradientLayout(model: model, parameters: parameters)
        return FisherShardResult(shard: shard, shardSamples: mine.count, names: parameters.map { model.name(of: $0) },
                                 counts: parameters.map { layout.counts[$0]! }, sums: sums(mine, reproducible: true, progress: progress),
                                 metadata: metadata(dataset: dataset, samples: examples.count, reproducible: true),
                                 fingerprints: fingerprints)
    }

    /// The `__metadata__` of the Fisher file of a run over `samples` examples of `dataset`;
    /// a reproducible run (and so every shard) records `reproducible: true`.
    func metadata(dataset: TaskDataset, samples: Int, reproducible: Bool) -> [String: String] {
        var metadata = [
            "format": "ckpt-fisher",
            "kind": options.kind.rawValue,
            "samples": String(samples),
            "data": (dataset.path as NSString).lastPathComponent,
            "model": model.path,
            "params": options.parameters.rawValue,
            "max_length": String(min(options.maxLength, model.config.maxSequenceLength)),
            "num_labels": String(model.numLabels),
            "head": model.headIsFresh ? "fresh" : "checkpoint",
        ]
        if model.numLabels == 1 { metadata["likelihood"] = "gaussian" }
        if reproducible { metadata["reproducible"] = "true" }
        return metadata
    }

    static func softmax(_ logits: UnsafePointer<Float>, count: Int, into out: inout [Double]) {
        var m = -Double.infinity
        for k in 0..<count { m = Swift.max(m, Double(logits[k])) }
        var s = 0.0
        for k in 0..<count {
            out[k] = Foundation.exp(Double(logits[k]) - m)
            s += out[k]
        }
        for k in 0..<count { out[k] /= s }
    }
}
