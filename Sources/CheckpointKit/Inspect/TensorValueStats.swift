import CKernels

/// What one tensor's values look like: how many are NaN, infinite and zero, and the min, max, mean
/// and standard deviation of the finite ones (`ckpt inspect --values`), so that a checkpoint can
/// be checked for damage without a base to compare it with.
///
/// The standard deviation is the population one (divided by the number of finite values, numpy's
/// default `ddof=0`). All arithmetic is in `Double` whatever the stored dtype; integers and
/// booleans are read as their values.
public struct TensorValueStats: Sendable, Encodable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Elements read (0 when ``problem`` says the values could not be).
    public var count: Int
    /// Elements that are neither NaN nor infinite: what min, max, mean and std cover.
    public var finite: Int
    public var nan: Int
    public var positiveInfinite: Int
    public var negativeInfinite: Int
    /// Elements equal to zero (+0 or -0).
    public var zeros: Int
    /// Over the finite elements; nil when there is none.
    public var min: Double?
    public var max: Double?
    public var mean: Double?
    /// Population standard deviation (ddof = 0) of the finite elements.
    public var std: Double?
    /// Why the values were not read (a dtype CheckpointKit cannot decode), else nil.
    public var problem: String?

    /// Infinities of either sign.
    public var infinite: Int { positiveInfinite + negativeInfinite }

    /// The statistics the kernel gathered over every element of `tensor`.
    init(_ tensor: TensorInfo, _ s: ckpt_value_stats) {
        name = tensor.name
        dtype = tensor.dtype
        shape = tensor.shape
        count = Int(s.count)
        finite = Int(s.finite)
        nan = Int(s.nan)
        positiveInfinite = Int(s.positive_infinite)
        negativeInfinite = Int(s.negative_infinite)
        zeros = Int(s.zeros)
        if s.finite > 0 {
            (min, max, mean) = (s.min, s.max, s.mean)
            std = (s.m2 / Double(s.finite)).squareRoot()
        }
    }

    /// The statistics of a whole tensor held in `bytes` (one thread; ``ValuesSummary`` splits a
    /// checkpoint over two), for callers that hold tensors of their own: a task patch's values.
    public init(_ tensor: TensorInfo, bytes: UnsafeRawBufferPointer) {
        guard tensor.dtype.isDecodable else {
            self.init(tensor, problem: "\(tensor.dtype.rawValue) values are not decoded")
            return
        }
        let doubles = UnsafeMutableBufferPointer<Double>.allocate(capacity: DifferenceKernel.blockSize)
        defer { doubles.deallocate() }
        var stats = ckpt_value_stats_empty()
        Self.accumulate(bytes, tensor.dtype, count: tensor.elementCount, doubles: doubles, into: &stats)
        self.init(tensor, stats)
    }

    /// Merges `count` elements of `raw` into `stats`: F32, F16, BF16 and F64 straight from the
    /// bytes; other dtypes (FP8, integers, booleans) decoded to `Double` one block of
    /// `doubles.count` elements at a time, then the same kernel.
    static func accumulate(_ raw: UnsafeRawBufferPointer, _ dtype: DType, count: Int, doubles: UnsafeMutableBufferPointer<Double>,
                           into stats: inout ckpt_value_stats) {
        guard count > 0, let base = raw.baseAddress else { return }
        if let lane = laneType(dtype) {
            ckpt_value_stats_best(base, lane, Int64(count), &stats)
            return
        }
        let width = dtype.bitWidth / 8
        var start = 0
        while start < count {
            let n = Swift.min(doubles.count, count - start)
            let block = UnsafeRawBufferPointer(rebasing: raw[(start * width)..<((start + n) * width)])
            TensorDecoder.decode(block, as: dtype, into: UnsafeMutableBufferPointer(rebasing: doubles[0..<n]))
            ckpt_value_stats_best(doubles.baseAddress!, CKPT_LANE_F64, Int64(n), &stats)
            start += n
        }
    }

    /// The dtypes the kernel reads from file bytes.
    static func laneType(_ dtype: DType) -> ckpt_lane_type? {
        switch dtype {
        case .f32: CKPT_LANE_F32
        case .f16: CKPT_LANE_F16
        case .bf16: CKPT_LANE_BF16
        case .f64: CKPT_LANE_F64
        default: nil
        }
    }

    /// A tensor whose values were not read.
    init(_ tensor: TensorInfo, problem: String) {
        self.init(tensor, ckpt_value_stats_empty())
        self.problem = problem
    }

    enum CodingKeys: String, CodingKey {
        case name, dtype, shape, numel, finite, nan, inf, zeros, min, max, mean, std, problem
        case positiveInfinite = "pos_inf", negativeInfinite = "neg_inf"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(dtype, forKey: .dtype)
        try c.encode(shape, forKey: .shape)
        try c.encode(count, forKey: .numel)
        try c.encode(finite, forKey: .finite)
        try c.encode(nan, forKey: .nan)
        try c.encode(infinite, forKey: .inf)
        try c.encode(positiveInfinite, forKey: .positiveInfinite)
        try c.encode(negativeInfinite, forKey: .negativeInfinite)
        try c.encode(zeros, forKey: .zeros)
        try c.encode(min, forKey: .min)
        try c.encode(max, forKey: .max)
        try c.encode(mean, forKey: .mean)
        try c.encode(std, forKey: .std)
        try c.encode(problem, forKey: .problem)
    }
}
