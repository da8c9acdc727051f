/// The running sums behind every number ``TensorDifference`` reports, for one tensor or for any
/// slice of it.
///
/// All sums are in `Double` whatever the stored dtype, so that they can be merged across blocks,
/// chunks and tensors without losing precision: the kernel adds short SIMD `Float` partial sums
/// (at most a few hundred terms each) into these. Merging is associative up to rounding, and the
/// diff always merges in element order, so results do not depend on how work was scheduled.
///
/// A pair with a NaN or an infinity on either side is left out of every sum (and of the largest
/// difference) and counted in ``nonFinite`` instead, so one broken value cannot turn a tensor's,
/// a layer's or the whole model's numbers into NaN; the per-side counts say where such values were.
public struct DifferenceSums: Sendable, Hashable {
    /// Number of elements accumulated.
    public var count: Int = 0
    /// Sum of base^2.
    public var baseSquares: Double = 0
    /// Sum of finetuned^2.
    public var finetunedSquares: Double = 0
    /// Sum of (finetuned - base)^2.
    public var deltaSquares: Double = 0
    /// Sum of |finetuned - base|.
    public var absoluteDelta: Double = 0
    /// Sum of base x finetuned (for the cosine).
    public var product: Double = 0
    /// Largest |finetuned - base| over pairs whose values are both finite.
    public var maxAbsoluteDelta: Double = 0
    /// Number of elements whose difference is NaN (NaN on a side, or inf - inf).
    public var nanDeltas: Int = 0
    /// Elements whose stored bit patterns differ (for pairs of different dtypes: whose values,
    /// widened to a common type, differ bitwise).
    public var changed: Int = 0
    public var baseNaN: Int = 0
    public var baseInfinite: Int = 0
    public var finetunedNaN: Int = 0
    public var finetunedInfinite: Int = 0
    /// Pairs with a NaN or an infinity on either side, left out of the sums above.
    public var nonFinite: Int = 0

    /// Pairs the sums cover: ``count`` minus ``nonFinite``.
    public var finiteCount: Int { count - nonFinite }
    /// For embedding tables (``EmbeddingRows``): rows with at least one changed element; 0 for
    /// other tensors.
    public var changedRows: Int = 0

    public init() {}

    /// sqrt(sum d^2): the L2 norm of the change, in the tensor's units.
    public var deltaL2: Double { deltaSquares.squareRoot() }
    /// deltaL2 / baseL2 (``TensorDifference/relativeChange(deltaSquares:baseSquares:)``).
    public var relativeChange: Double {
        TensorDifference.relativeChange(deltaSquares: deltaSquares, baseSquares: baseSquares)
    }
    /// sum |d| / the pairs the sums cover (0 when they cover none).
    public var meanAbsDelta: Double { finiteCount == 0 ? 0 : absoluteDelta / Double(finiteCount) }

    /// Adds the sums of another, disjoint set of elements.
    public mutating func merge(_ other: DifferenceSums) {
        count += other.count
        baseSquares += other.baseSquares
        finetunedSquares += other.finetunedSquares
        deltaSquares += other.deltaSquares
        absoluteDelta += other.absoluteDelta
        product += other.product
        maxAbsoluteDelta = Swift.max(maxAbsoluteDelta, other.maxAbsoluteDelta)
        nanDeltas += other.nanDeltas
        changed += other.changed
        baseNaN += other.baseNaN
        baseInfinite += other.baseInfinite
        finetunedNaN += other.finetunedNaN
        finetunedInfinite += other.finetunedInfinite
        nonFinite += other.nonFinite
        changedRows += other.changedRows
    }

    /// Whether every sum is a finite number (no NaN or infinity entered, nothing overflowed).
    var isFinite: Bool {
        baseSquares.isFinite && finetunedSquares.isFinite && deltaSquares.isFinite
            && absoluteDelta.isFinite && product.isFinite
    }

    /// Adds one pair of values, exactly as the C kernel's scalar step does: a pair with a
    /// non-finite side is counted and left out of the sums.
    @inline(__always)
    mutating func add(base b: Double, finetuned f: Double) {
        let d = f - b
        if d.isNaN { nanDeltas += 1 }
        if b.isNaN { baseNaN += 1 } else if b.isInfinite { baseInfinite += 1 }
        if f.isNaN { finetunedNaN += 1 } else if f.isInfinite { finetunedInfinite += 1 }
        count += 1
        guard b.isFinite, f.isFinite else {
            nonFinite += 1
            return
        }
        baseSquares += b * b
        finetunedSquares += f * f
        deltaSquares += d * d
        absoluteDelta += Swift.abs(d)
        product += b * f
        if Swift.abs(d) > maxAbsoluteDelta { maxAbsoluteDelta = Swift.abs(d) }
    }
}
