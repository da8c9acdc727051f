/// The `ckpt fisher --json` summary of a Fisher file just written.
///
/// Fields: `output`, `format` (`ckpt-fisher`), `kind`, `params`, `samples`, `model`, `data`,
/// `max_length` (null when the file's metadata does not say), `seconds`, `compute_seconds` and
/// `examples_per_second` (only when the Fisher was computed here, not converted with
/// `--from-grads`), `tensors` (`name`, `shape`, `sum`, `max`) and `total` (`entries`, `sum`,
/// `max`). Written by ``JSONOutput`` like every report.
public struct FisherReport: Encodable, Sendable {
    public struct Tensor: Encodable, Sendable {
        public var name: String
        public var shape: [Int]
        /// Sum and largest of the tensor's Fisher values.
        public var sum: Double
        public var max: Double
    }

    public struct Total: Encodable, Sendable {
        public var entries: Int
        public var sum: Double
        public var max: Double
    }

    public var output: String
    public var format = "ckpt-fisher"
    public var kind: String
    public var params: String
    public var samples: Int
    @ExplicitNull public var model: String? = nil
    @ExplicitNull public var data: String? = nil
    @ExplicitNull public var maxLength: Int? = nil
    /// Wall time of the whole command, in seconds.
    public var seconds: Double
    /// Time spent computing gradients, in seconds; nil for `--from-grads`.
    public var computeSeconds: Double?
    /// Examples per second of gradient computation; nil when nothing was computed.
    public var examplesPerSecond: Double?
    public var tensors: [Tensor]
    public var total: Total

    /// - Parameters:
    ///   - seconds: wall time of the whole command.
    ///   - computeSeconds: time spent computing gradients (nil when the Fisher was converted).
    public init(_ result: FisherResult, output: String, seconds: Double, computeSeconds: Double?) {
        self.output = output
        kind = result.metadata["kind"] ?? ""
        params = result.metadata["params"] ?? ""
        let samples = result.samples ?? 0
        self.samples = samples
        model = result.metadata["model"]
        data = result.metadata["data"]
        maxLength = result.metadata["max_length"].flatMap { Int($0) }
        self.seconds = seconds
        self.computeSeconds = computeSeconds
        examplesPerSecond = computeSeconds.map { Double(samples) / Swift.max($0, 1e-9) }
        tensors = result.tensors.map { Tensor(name: $0.name, shape: $0.shape, sum: $0.sum, max: $0.max) }
        total = Total(entries: result.entryCount, sum: tensors.reduce(0) { $0 + $1.sum }, max: tensors.map(\.max).max() ?? 0)
    }

    enum CodingKeys: String, CodingKey {
        case output, format, kind, params, samples, model, data, seconds, tensors, total
        case maxLength = "max_length", computeSeconds = "compute_seconds", examplesPerSecond = "examples_per_second"
    }
}
