/// What fine-tuning did to one parameter: the base tensor and its fine-tuned counterpart compared
/// element by element, all arithmetic in `Double`.
///
/// Definitions (b = base, f = fine-tuned, d = f - b, sums over the tensor's elements):
/// - `baseL2` = sqrt(sum b^2), `finetunedL2` = sqrt(sum f^2), `deltaL2` = sqrt(sum d^2).
/// - `relativeChange` = deltaL2 / baseL2. When baseL2 is 0 it is +infinity if anything changed
///   (deltaL2 > 0) and 0 if nothing did: a parameter initialised at zero that moved changed
///   infinitely in relative terms, one that stayed at zero did not change.
/// - `meanAbsDelta` = sum |d| / numel, the per-vector measure of the BitFit and LayerNorm-tuning
///   papers (0 for an empty tensor).
/// - `maxAbsDelta` = max |d|.
/// - `cosine` = sum b f / (baseL2 finetunedL2), nil when either norm is 0, exactly 1 for a
///   tensor that did not change.
/// - `changed` = number of elements whose stored bit patterns differ (for two different dtypes:
///   against the base converted to the fine-tune's dtype as PyTorch converts, see ``conversion``;
///   where ckpt does not reproduce that conversion, whose values widened to a common type differ
///   bitwise).
/// When the base is converted, every measure above compares the converted base with the fine-tune
/// and ``rawSums`` holds the same sums against the base as stored. An F32 fine-tune whose values
/// are all BF16 (or F16) values is compared with the F32 base rounded to that dtype (``HalfPrecisionRounding``,
/// ``roundedThrough``).
/// Sums, the mean and the max run over the pairs whose two values are finite (numel still counts
/// every element): a pair holding a NaN or an infinity is left out (``DifferenceSums/nonFinite`` counts them, the NaN/Inf counts say which
/// side holds what), so one broken value never turns the numbers into NaN. `changed` still counts
/// it (a NaN that appeared is a change).
public struct TensorDifference: Sendable {
    /// The framework-neutral parameter name (``ParameterRole/canonicalName``): the same whether the
    /// pair came from safetensors, a prefixed task model or a `tf_model.h5`.
    public var name: String {
        get { read({ $0.role.canonicalName }, \.name) }
        set { modifyIdentity { $0.name = newValue } }
    }
    /// The names as stored in each checkpoint.
    public var baseName: String {
        get { read({ $0.base.name }, \.baseName) }
        set { modifyIdentity { $0.baseName = newValue } }
    }
    public var finetunedName: String {
        get { read({ $0.finetuned.name }, \.finetunedName) }
        set { modifyIdentity { $0.finetunedName = newValue } }
    }
    public var role: ParameterRole {
        get { read({ $0.role }, \.role) }
        set { modifyIdentity { $0.role = newValue } }
    }
    public var baseDType: DType {
        get { read({ $0.base.dtype }, \.baseDType) }
        set { modifyIdentity { $0.baseDType = newValue } }
    }
    public var finetunedDType: DType {
        get { read({ $0.finetuned.dtype }, \.finetunedDType) }
        set { modifyIdentity { $0.finetunedDType = newValue } }
    }
    public var baseShape: [Int] {
        get { read({ $0.base.shape }, \.baseShape) }
        set { modifyIdentity { $0.baseShape = newValue } }
    }
    public var finetunedShape: [Int] {
        get { read({ $0.finetuned.shape }, \.finetunedShape) }
        set { modifyIdentity { $0.finetunedShape = newValue } }
    }
    /// Whether one side was stored transposed (a TF kernel) and compared in PyTorch order.
    public var transposed: Bool {
        get { read({ !$0.isDirect }, \.transposed) }
        set { modifyIdentity { $0.transposed = newValue } }
    }
    /// Why the pair was not compared (shape mismatch, a dtype that cannot be decoded), or nil.
    public var problem: String? {
        get {
            switch source {
            case let .shared(pairs, index): return pairs.problems.isEmpty ? nil : pairs.problems[index]
            case let .own(box): return box.identity.problem
            }
        }
        set { modifyIdentity { $0.problem = newValue } }
    }
    /// Rows added or removed (the sums cover the shared rows only), or a replaced head (no sums: a
    /// new tensor); nil when the shapes match.
    public var shapeChange: ShapeChange? {
        get { read({ $0.shapeChange }, \.shapeChange) }
        set { modifyIdentity { $0.shapeChange = newValue } }
    }
    /// The sums, nil when ``problem`` prevented the comparison.
    public var sums: DifferenceSums?
    /// For pairs that could not be compared numerically: whether the raw bytes are equal.
    public var bytesEqual: Bool?
    /// The dtype the base was converted to before comparing (the fine-tune's, or BF16 or F16 for
    /// a fine-tune rounded through it: see ``roundedThrough``), or nil when the dtypes are the
    /// same and nothing was rounded, or the conversion is not one ckpt reproduces.
    public var conversion: DType?
    /// For an F32 pair whose fine-tune holds only BF16 (or F16) values (trained or stored in that
    /// dtype, saved as F32): that dtype, the one the base was rounded to and widened back from before comparing
    /// (``HalfPrecisionRounding``); nil otherwise.
    public var roundedThrough: DType? {
        guard let conversion, conversion != finetunedDType else { return nil }
        return conversion
    }
    /// For a converted pair: the sums against the base as stored (rounding included).
    public var rawSums: DifferenceSums? {
        get { rawSumsBox?.sums }
        set { rawSumsBox = newValue.map(RawSumsBox.init) }
    }
    /// Holds ``rawSums`` out of line: most pairs are not converted, and an inline optional would
    /// cost every one of them 128 bytes (100,000 pairs of a mixture-of-experts diff: 12.8 MB).
    private var rawSumsBox: RawSumsBox?

    public init(pair: TensorPair, sums: DifferenceSums?, problem: String?, bytesEqual: Bool? = nil) {
        source = .own(IdentityBox(Identity(pair: pair, problem: problem)))
        self.sums = sums
        self.bytesEqual = bytesEqual
    }

    /// The difference of pair `index` of a diff's shared ``DiffPairs``, which holds its names,
    /// role, dtypes, shapes and problem.
    init(pairs: DiffPairs, index: Int, sums: DifferenceSums? = nil) {
        source = .shared(pairs, index)
        self.sums = sums
    }

    /// What the pair is (names, role, dtypes, shapes, problem), for a value that was changed
    /// after the diff or made by hand.
    struct Identity: Sendable {
        var name: String
        var baseName: String
        var finetunedName: String
        var role: ParameterRole
        var baseDType: DType
        var finetunedDType: DType
        var baseShape: [Int]
        var finetunedShape: [Int]
        var transposed: Bool
        var problem: String?
        var shapeChange: ShapeChange?

        init(pair: TensorPair, problem: String?) {
            name = pair.role.canonicalName
            baseName = pair.base.name
            finetunedName = pair.finetuned.name
            role = pair.role
            baseDType = pair.base.dtype
            finetunedDType = pair.finetuned.dtype
            baseShape = pair.base.shape
            finetunedShape = pair.finetuned.shape
            transposed = !pair.isDirect
            self.problem = problem
            shapeChange = pair.shapeChange
        }
    }

    /// Where the identity lives: in the diff's pair list, shared by every difference of the
    /// diff (no allocation a pair: a difference of a 1,000,000-tensor diff is about 180 bytes
    /// where a box of its own cost 220 more), or, once a property is set, in an immutable box of
    /// its own. A copy costs one reference count either way.
    private enum Source: Sendable {
        case shared(DiffPairs, Int)
        case own(IdentityBox)
    }

    private var source: Source

    /// A property of the identity, read in place from wherever it lives.
    @inline(__always)
    private func read<T>(_ fromPair: (TensorPair) -> T, _ fromIdentity: KeyPath<Identity, T>) -> T {
        switch source {
        case let .shared(pairs, index): return pairs.pairs.withUnsafeBufferPointer { fromPair($0[index]) }
        case let .own(box): return box.identity[keyPath: fromIdentity]
        }
    }

    /// Every property of the identity at once, for a reader of most of them (one tensor of
    /// `diff --json`): one read of the shared pair list rather than one a property.
    var identity: Identity {
        switch source {
        case let .shared(pairs, index):
            return pairs.pairs.withUnsafeBufferPointer { Identity(pair: $0[index], problem: pairs.problems.isEmpty ? nil : pairs.problems[index]) }
        case let .own(box): return box.identity
        }
    }

    /// Sets a property: the identity moves to a new box of this value's own, so copies made
    /// before keep theirs.
    private mutating func modifyIdentity(_ change: (inout Identity) -> Void) {
        var identity: Identity
        switch source {
        case let .shared(pairs, index): identity = Identity(pair: pairs.pairs[index], problem: pairs.problems[index])
        case let .own(box): identity = box.identity
        }
        change(&identity)
        source = .own(IdentityBox(identity))
    }

    /// Number of elements compared (of the base side; of the shared rows of a resized pair; of the
    /// fine-tune's tensor for a replaced head, which is reported as a new tensor).
    public var numel: Int {
        if shapeChange == .replacedHead { return finetunedShape.reduce(1, *) }
        return sums?.count ?? baseShape.reduce(1, *)
    }

    public var baseL2: Double? { sums.map { $0.baseSquares.squareRoot() } }
    public var finetunedL2: Double? { sums.map { $0.finetunedSquares.squareRoot() } }
    public var deltaL2: Double? { sums?.deltaL2 }
    public var relativeChange: Double? { sums?.relativeChange }
    public var meanAbsDelta: Double? { sums?.meanAbsDelta }

    public var maxAbsDelta: Double? { sums?.maxAbsoluteDelta }

    /// Pairs left out of the numbers because a side holds NaN or infinity (nil if not compared).
    public var nonFinite: Int? { sums?.nonFinite }

    public var cosine: Double? {
        guard let sums, sums.baseSquares > 0, sums.finetunedSquares > 0 else { return nil }
        if sums.changed == 0 && (baseDType == finetunedDType || conversion != nil) { return 1 }
        return sums.product / (sums.baseSquares.squareRoot() * sums.finetunedSquares.squareRoot())
    }

    /// For an embedding table (rows = tokens): rows with at least one changed element, nil for
    /// other tensors and pairs not compared row by row (``EmbeddingRows``).
    public var changedRows: Int? {
        guard let sums, EmbeddingRows.countsRows(role: role, baseShape: baseShape, finetunedShape: finetunedShape,
                                                 dtypes: (baseDType, finetunedDType), transposed: transposed) else { return nil }
        return sums.changedRows
    }

    /// Elements that changed bitwise, nil when the pair was not compared.
    public var changed: Int? { sums?.changed }

    /// The measures against the base as stored: ``rawSums`` for a converted pair, else ``sums``.
    public var raw: TensorDifference {
        guard let rawSums else { return self }
        var copy = self
        copy.sums = rawSums
        copy.conversion = nil
        copy.rawSums = nil
        return copy
    }

    /// Whether the two sides are bitwise the same tensor (same dtype, no element changed from the
    /// base as stored: a tensor that is the base rounded through BF16 is not identical).
    /// A pair with a shape problem is never identical.
    public var isIdentical: Bool {
        if shapeChange != nil { return false }
        if let bytesEqual { return bytesEqual }
        guard let sums = rawSums ?? sums, problem == nil else { return false }
        return baseDType == finetunedDType && sums.changed == 0
    }

    /// Whether the pair is compared at all and counts as a model parameter (not a buffer such as
    /// `position_ids`): what groups and the regime are built from.
    public var isParameter: Bool { sums != nil && role.kind != .buffer }

    /// sqrt(deltaSquares) / sqrt(baseSquares), with the zero-base convention of ``relativeChange``.
    public static func relativeChange(deltaSquares: Double, baseSquares: Double) -> Double {
        if baseSquares == 0 { return deltaSquares == 0 ? 0 : (deltaSquares.isNaN ? .nan : .infinity) }
        return deltaSquares.squareRoot() / baseSquares.squareRoot()
    }
}

/// The box of a ``TensorDifference/Identity`` of one value's own; never written after it is made.
private final class IdentityBox: Sendable {
    let identity: TensorDifference.Identity
    init(_ identity: TensorDifference.Identity) { self.identity = identity }
}

/// An immutable box for ``TensorDifference/rawSums`` (one pointer inline instead of 128 bytes).
private final class RawSumsBox: Sendable {
    let sums: DifferenceSums
    init(_ sums: DifferenceSums) { self.sums = sums }
}
