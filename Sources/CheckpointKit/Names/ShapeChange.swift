/// Why a pair whose shapes differ is still handled rather than reported as a mismatch: rows added to
/// (or removed from) an embedding or output matrix when a fine-tune adds tokens, or a task head
/// replaced for a new task.
///
/// `indirect`: a payload of five integers inline would make every ``TensorPair`` 40 bytes larger
/// (a million-tensor diff holds a million pairs), for the few pairs that have one.
public indirect enum ShapeChange: Hashable, Sendable {
    /// The leading dimension grew or shrank, the other dimensions are equal and the dtype is equal or
    /// one ``DTypeConversion`` converts to (a fine-tune saved in another precision): a word-
    /// embedding matrix, an `lm_head` or an output bias that gained (or lost) vocabulary rows. Both
    /// sides are row-major, so the rows they share are the first `min(baseRows, finetunedRows)`
    /// rows, the same element prefix on both sides. `rowElements` is the elements per row (1 for a
    /// vector).
    case resized(baseRows: Int, finetunedRows: Int, rowElements: Int)
    /// A table one side stores without its leading rows: KerasHub's RoBERTa position table lacks
    /// Hugging Face's first `padding_idx + 1` = 2 rows (``PositionPaddingRows``), so KerasHub row 0
    /// is Hugging Face row 2. Set only by that family rule, never inferred from shapes (a plain
    /// resized table is ``resized(baseRows:finetunedRows:rowElements:)``, compared from row 0).
    /// The rows compared start at `baseFirstRow` in the base and `finetunedFirstRow` in the
    /// fine-tune (one of them 0); the other dimensions are equal.
    case offsetRows(baseFirstRow: Int, finetunedFirstRow: Int, baseRows: Int, finetunedRows: Int, rowElements: Int)
    /// A task head (`classifier`, `score`, `qa_outputs`, ...) whose shape changed: a fresh head for a
    /// new task (2 -> 3 labels), compared as a new tensor.
    case replacedHead

    /// What a shape difference between `base` and `finetuned` (of role `role`) means, or nil when it
    /// is a plain mismatch (a body tensor, a dtype ckpt does not convert, a transposed side).
    static func classify(base: TensorInfo, finetuned: TensorInfo, role: ParameterRole) -> ShapeChange? {
        guard base.shape != finetuned.shape, role.kind != .buffer else { return nil }
        if role.component == .head { return .replacedHead }
        let resizable: Set<Component> = [.embeddings, .pretrainingHead]
        guard resizable.contains(role.component), base.dtype.byteWidth != nil,
              base.dtype == finetuned.dtype || DTypeConversion.target(from: base.dtype, to: finetuned.dtype) != nil,
              base.shape.count == finetuned.shape.count, let baseRows = base.shape.first, let finetunedRows = finetuned.shape.first,
              base.shape.dropFirst() == finetuned.shape.dropFirst() else { return nil }
        return .resized(baseRows: baseRows, finetunedRows: finetunedRows, rowElements: base.shape.dropFirst().reduce(1, *))
    }

    /// Rows both sides have (resized tensors; 0 for a replaced head).
    public var sharedRows: Int {
        switch self {
        case let .resized(b, f, _): return min(b, f)
        case let .offsetRows(bFirst, fFirst, b, f, _): return min(b - bFirst, f - fFirst)
        case .replacedHead: return 0
        }
    }

    /// Elements of the shared rows: the run of each side that is compared element by element
    /// (starting at ``firstElements`` on each side).
    public var sharedElements: Int {
        switch self {
        case let .resized(_, _, row), let .offsetRows(_, _, _, _, row): return sharedRows * row
        case .replacedHead: return 0
        }
    }

    /// Where the compared elements start in the base and in the fine-tune (elements, not bytes):
    /// (0, 0) except for ``offsetRows(baseFirstRow:finetunedFirstRow:baseRows:finetunedRows:rowElements:)``.
    public var firstElements: (base: Int, finetuned: Int) {
        guard case let .offsetRows(bFirst, fFirst, _, _, row) = self else { return (0, 0) }
        return (bFirst * row, fFirst * row)
    }

    /// Whether the two sides' compared rows start at different rows (a patch, which keeps rows by
    /// index from row 0, is not made across such a pair).
    public var isOffset: Bool {
        if case .offsetRows = self { return true }
        return false
    }

    /// Rows the fine-tune has beyond the base (negative: fewer).
    public var addedRows: Int {
        switch self {
        case let .resized(b, f, _), let .offsetRows(_, _, b, f, _): return f - b
        case .replacedHead: return 0
        }
    }

    /// "+2 rows (new tokens 30522-30523)", "-3 rows (rows 50257-50259 removed)", "rows 0-1 only in
    /// the Hugging Face file (padding offset)", "replaced".
    public var summary: String {
        if case let .offsetRows(bFirst, fFirst, _, _, _) = self {
            let first = max(bFirst, fFirst)
            let rows = first == 1 ? "row 0" : "rows 0-\(first - 1)"
            return "\(rows) only in the Hugging Face file (\(bFirst > 0 ? "base" : "fine-tune"); padding offset)"
        }
        guard case let .resized(b, f, _) = self else { return "replaced" }
        if f >= b {
            let range = f - b == 1 ? "new token \(b)" : "new tokens \(b)-\(f - 1)"
            return "+\(f - b) row\(f - b == 1 ? "" : "s") (\(range))"
        }
        let range = b - f == 1 ? "row \(f)" : "rows \(f)-\(b - 1)"
        return "-\(b - f) row\(b - f == 1 ? "" : "s") (\(range) removed)"
    }
}
