import Foundation

/// Estimates the diagonal Fisher information of the norm and/or bias parameters of a decoder
/// language model from per-example gradients of the sequence log-likelihood
/// log p(x) = sum over label positions t of log p(y_t | x_<t) (transformers' causal-LM loss, summed
/// and negated): the mean over examples of each example's squared gradient.
///
/// - `empirical`: y_t is the data's own next token (its `labels`).
/// - `sampled`: y_t is drawn from the model's own p(. | x_<t) at every label position, the prefix
///   staying the data's; D draws per example, each its own backward pass, their squared gradients
///   averaged. This is an unbiased Monte Carlo estimate of the true Fisher E_y[g g^T] (diagonal) of
///   the per-position predictive distributions given the data's prefixes; its variance falls as 1/(N D).
/// - `expected` (exact) would take one backward pass per vocabulary entry and position, and is refused.
///
/// Each worker runs one sequence at a time (no padding, so a padded batch's attention mask is moot);
/// the gradient entries are summed in `Double`.
public final class DecoderFisherEstimator {
    public let model: DecoderModel
    public let options: FisherOptions
    /// Draws per example of the sampled kind (ignored when ``drawsPath`` gives them).
    public let draws: Int
    /// Seed of the sampled kind's generator.
    public let seed: UInt64
    /// A draws file (``DecoderDraws``) to use instead of drawing.
    public let drawsPath: String?

    public init(model: DecoderModel, options: FisherOptions, draws: Int = 1, seed: UInt64 = 0, drawsPath: String? = nil) {
        self.model = model
        self.options = options
        self.draws = draws
        self.seed = seed
        self.drawsPath = drawsPath
    }

    /// The parameters the estimate covers, bottom to top.
    public var parameters: [DecoderParameter] { model.parameters.filter { $0.isIncluded(in: options.parameters) } }

    /// Most tokens an example may have: `max_length`, the positions the model has, Mistral's window.
    public var maxLength: Int {
        min(options.maxLength, model.config.architecture == .gpt2 ? model.config.maxPositions : Int.max, model.config.slidingWindow ?? Int.max)
    }

    /// Checks the options against the model and the kind.
    func validate() throws(FisherError) {
        try options.validate()
        switch options.kind {
        case .expected:
            throw .unsupportedKind(path: model.path, kind: "expected", reason: "the exact expected Fisher of a language model takes one backward pass per vocabulary entry; the sampled kind estimates it")
        case .sampled:
            guard drawsPath != nil || draws >= 1 else { throw .unsupportedKind(path: model.path, kind: "sampled", reason: "needs at least one draw per example (got \(draws))") }
        case .empirical:
            break
        }
        guard !parameters.isEmpty else {
            throw .unsupportedKind(path: model.path, kind: options.kind.rawValue, reason: "this \(model.config.modelType) model has no \(options.parameters.rawValue) parameters (no bias vectors); estimate its norm weights instead")
        }
    }

    /// Truncates the examples to ``maxLength`` and checks their tokens against the model; an example
    /// left without a label position is refused (it would add a zero gradient and dilute the mean).
    public func encode(_ examples: [DecoderExample], path: String) throws(FisherError) -> [DecoderExample] {
        try validate()
        let n = options.samples.map { min($0, examples.count) } ?? examples.count
        guard n > 0 else { throw .emptyData(path: path) }
        let vocab = model.config.vocabSize
        return try examples.prefix(n).map { (example: DecoderExample) throws(FisherError) -> DecoderExample in
            var e = example
            e.inputIds = Array(e.inputIds.prefix(maxLength))
            e.labels = Array(e.labels.prefix(maxLength))
            if let bad = (e.inputIds + e.labels).first(where: { Int($0) >= vocab }) {
                throw .invalidData(path: path, line: e.line, reason: "token id \(bad) is outside the vocabulary (\(vocab) tokens)")
            }
            guard !e.labelPositions.isEmpty else {
                throw .invalidData(path: path, line: e.line, reason: "no position after the first carries a label\(example.inputIds.count > maxLength ? " within the first \(maxLength) tokens" : "")")
            }
            return e
        }
    }

    /// Runs the estimate; `drawn` gives the sampled kind's tokens per example (else they are drawn).
    public func estimate(_ examples: [DecoderExample], drawn: [[[Int32]]]? = nil, progress: ((Int, Int) -> Void)? = nil) -> [FisherTensor] {
        let sums = squaredGradientSums(examples, drawn: drawn, progress: progress)
        let n = Double(examples.count)
        let runner = DecoderRunner(model: model)
        return model.parameters.indices.compactMap { i in
            let p = model.parameters[i]
            guard p.isIncluded(in: options.parameters) else { return nil }
            let off = runner.offsets[i]
            return FisherTensor(name: p.name, shape: [p.count], values: sums[off..<(off + p.count)].map { $0 / n })
        }
    }

    /// The per-entry sums of squared gradients over `examples`. The examples are dealt out in turn
    /// to one worker per OpenBLAS thread, each with its own runner and `Double` sums, with OpenBLAS on
    /// one thread per call: a sequence's products are too small to split well over the cores (half
    /// the time went to OpenBLAS threads yielding), and the softmax, GELU and norms then run in
    /// parallel too. The workers' sums are added in worker order, so a run's bits depend only on the
    /// thread count. The built-in sampler draws from one generator in example order, so a sampled
    /// run without a draws file stays on one worker.
    func squaredGradientSums(_ examples: [DecoderExample], drawn: [[[Int32]]]?, progress: ((Int, Int) -> Void)?) -> [Double] {
        let sequential = options.kind == .sampled && drawn == nil
        let workers = sequential ? 1 : Swift.max(1, Swift.min(BLAS.threadCount, examples.count))
        guard workers > 1 else {
            var generator = NormalGenerator(seed: seed)
            return sums(examples, indices: Array(examples.indices), drawn: drawn, generator: &generator, progress: progress)
        }
        let lock = NSLock()
        var done = 0
        let report: (() -> Void)? = progress.map { progress in {
            lock.lock(); defer { lock.unlock() }
            done += 1
            progress(done, examples.count)
        } }
        var partials = [[Double]](repeating: [], count: workers)
        BLAS.withThreadCount(1) {
            partials.withUnsafeMutableBufferPointer { out in
                nonisolated(unsafe) let out = out, me = self, report = report
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    var generator = NormalGenerator(seed: me.seed)
                    out[w] = me.sums(examples, indices: Array(Swift.stride(from: w, to: examples.count, by: workers)), drawn: drawn,
                                     generator: &generator, progress: report.map { r in { _, _ in r() } })
                }
            }
        }
        var total = partials[0]
        for partial in partials.dropFirst() { for j in 0..<total.count { total[j] += partial[j] } }
        return total
    }

    /// One worker: the squared-gradient sums of the examples at `indices`, one sequence at a time.
    private func sums(_ examples: [DecoderExample], indices: [Int], drawn: [[[Int32]]]?, generator: inout NormalGenerator,
                      progress: ((Int, Int) -> Void)?) -> [Double] {
        let runner = DecoderRunner(model: model)
        let vocab = model.config.vocabSize
        var sums = [Double](repeating: 0, count: runner.gradientWidth)
        var grad = [Double](repeating: 0, count: runner.gradientWidth)
        var probabilities: [Double] = []
        let seedBuffer = ScratchBuffer()
        for (done, index) in indices.enumerated() {
            let example = examples[index]
            let t = example.inputIds.count
            let logits = runner.forward(example.inputIds)
            Self.softmaxRows(logits, rows: t - 1, vocab: vocab, into: &probabilities)
            let positions = example.labelPositions
            let targets: [[Int32]]
            switch options.kind {
            case .sampled:
                targets = drawn?[index] ?? (0..<draws).map { _ in
                    DecoderDraws.sample(probabilities: probabilities, vocabSize: vocab, positions: positions, length: t, generator: &generator)
                }
            default:
                targets = [example.labels]
            }
            // The logit gradient is one-hot(target) - p at each label position: -p is built once per
            // example, and each draw adds its ones and takes them back out (restoring the saved
            // values keeps the bits of the next draw's seed).
            seedBuffer.reserve(t * vocab)
            let seed = seedBuffer.pointer
            seed.update(repeating: 0, count: t * vocab)
            for p in positions {
                let row = seed + (p - 1) * vocab
                for k in 0..<vocab { row[k] = Float(-probabilities[(p - 1) * vocab + k]) }
            }
            let weight = 1 / Double(targets.count)
            for target in targets {
                let saved = positions.map { seed[($0 - 1) * vocab + Int(target[$0])] }
                for p in positions { seed[(p - 1) * vocab + Int(target[p])] += 1 }
                grad.withUnsafeMutableBufferPointer { g in
                    g.update(repeating: 0)
                    runner.backward(seed: seed, into: g.baseAddress!)
                }
                for (i, p) in positions.enumerated() { seed[(p - 1) * vocab + Int(target[p])] = saved[i] }
                for j in 0..<grad.count { sums[j] += weight * grad[j] * grad[j] }
            }
            progress?(done + 1, indices.count)
        }
        return sums
    }

    /// Row-wise softmax (in `Double`) of the first `rows` rows of `[*, vocab]` logits.
    static func softmaxRows(_ logits: UnsafePointer<Float>, rows: Int, vocab: Int, into out: inout [Double]) {
        if out.count < rows * vocab { out = [Double](repeating: 0, count: rows * vocab) }
        var row = [Double](repeating: 0, count: vocab)
        for r in 0..<rows {
            FisherEstimator.softmax(logits + r * vocab, count: vocab, into: &row)
            for k in 0..<vocab { out[r * vocab + k] = row[k] }
        }
    }

    /// Reads the data (and draws file), runs the estimate and packages it with its file metadata.
    public func run(dataPath: String, progress: ((Int, Int) -> Void)? = nil) throws(FisherError) -> FisherResult {
        try validate()
        let examples = try encode(try DecoderDataset.load(path: dataPath, limit: options.samples, tokenizer: { [model] () throws(FisherError) in try TokenizerLoader.byteLevel(directory: model.path) }), path: dataPath)
        var drawn: [[[Int32]]]? = nil
        if options.kind == .sampled, let drawsPath {
            drawn = try DecoderDraws.load(path: drawsPath, examples: examples, vocabSize: model.config.vocabSize)
        }
        let tensors = estimate(examples, drawn: drawn, progress: progress)
        var metadata = [
            "format": "ckpt-fisher",
            "kind": options.kind.rawValue,
            "samples": String(examples.count),
            "data": (dataPath as NSString).lastPathComponent,
            "model": model.path,
            "model_type": model.config.modelType,
            "params": options.parameters.rawValue,
            "max_length": String(maxLength),
            "likelihood": "causal-lm",
        ]
        if options.kind == .sampled {
            metadata["draws"] = String(drawn?.first?.count ?? draws)
            if let drawsPath { metadata["draws_file"] = (drawsPath as NSString).lastPathComponent } else { metadata["seed"] = String(seed) }
        }
        return FisherResult(tensors: tensors, metadata: metadata)
    }
}
