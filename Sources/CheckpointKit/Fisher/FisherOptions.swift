/// Which Fisher information to estimate.
public enum FisherKind: String, Sendable, CaseIterable {
    /// Squared gradient of log p(gold label | x).
    case empirical
    /// Sum over labels y of p(y | x) times the squared gradient of log p(y | x), exactly.
    case expected
    /// Decoders: the squared gradient of log p(y) for next tokens y drawn from the model itself,
    /// averaged over draws (``DecoderFisherEstimator``).
    case sampled

    /// The kinds an encoder classifier's estimate computes (exactly).
    public static let encoderKinds: [FisherKind] = [.empirical, .expected]
}

public struct FisherOptions: Sendable {
    public var kind: FisherKind
    public var parameters: FisherParameterSet
    /// Use the first `samples` examples (FISH uses 1024); `nil` uses all.
    public var samples: Int?
    /// Truncate each example to this many tokens (special tokens included).
    public var maxLength: Int
    /// Examples per forward/backward batch.
    public var batchSize: Int
    /// Names of the labels in class order, for data files whose labels are words
    /// (`entailment`, `not_entailment`); the config's `label2id` is used otherwise.
    public var labelNames: [String]?
    /// Run the dense layers through the row-deterministic kernels (see ``BLAS``), so the result is
    /// bitwise independent of batching and equal to the merge of any `--shard` split; slower.
    /// A shard run is always reproducible.
    public var reproducible: Bool

    public init(kind: FisherKind = .empirical, parameters: FisherParameterSet = .layernorm, samples: Int? = 1024,
                maxLength: Int = 128, batchSize: Int = 32, labelNames: [String]? = nil, reproducible: Bool = false) {
        self.kind = kind
        self.parameters = parameters
        self.samples = samples
        self.maxLength = maxLength
        self.batchSize = batchSize
        self.labelNames = labelNames
        self.reproducible = reproducible
    }

    /// Checks the ranges of the options: at least one and at most ``TaskDataset/maxExamples``
    /// examples, at least 3 tokens per example (the special tokens and one word), batches of at
    /// least one example. The estimator calls it; a front end may call it early.
    public func validate() throws(FisherError) {
        if let samples {
            try FisherOptions.checkSampleCount(samples)
            guard samples <= TaskDataset.maxExamples else { throw .tooManySamples(samples, limit: TaskDataset.maxExamples) }
        }
        guard maxLength >= 3 else { throw .invalidMaxLength(maxLength) }
        guard batchSize >= 1 else { throw .invalidBatchSize(batchSize) }
    }

    /// Checks a number of examples (also the count squared-gradient sums are divided by).
    public static func checkSampleCount(_ samples: Int) throws(FisherError) {
        guard samples >= 1 else { throw .invalidSampleCount(samples) }
    }
}
