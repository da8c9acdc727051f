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
    /// Infinities of either sign, and of each sign.
    public var infinite: Int
    public var positiveInfinite: Int
    public var negativeInfinite: Int
    /// Elements equal to zero (+0 or -0).
    public var zeros: Int
    /// Over the finite elements; null when there is none.
    @ExplicitNull public var min: Double? = nil
    @ExplicitNull public var max: Double? = nil
    @ExplicitNull public var mean: Double? = nil
    /// Population standard deviation (ddof = 0) of the finite elements.
    @ExplicitNull public var std: Double? = nil
    /// Why the values were not read (a dtype CheckpointKit cannot decode), else null.
    @ExplicitNull public var problem: String? = nil

    enum CodingKeys: String, CodingKey {
        case name, dtype, shape, finite, nan, zeros, min, max, mean, std, problem
        case count = "numel", infinite = "inf", positiveInfinite = "pos_inf", negativeInfinite = "neg_inf"
    }

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
        infinite = positiveInfinite + negativeInfinite
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
}
