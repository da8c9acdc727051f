/// Why a pair whose shapes differ is still handled rather than reported as a mismatch: rows added to
/// (or removed from) an embedding or output matrix when a fine-tune adds tokens, or a task head
/// replaced for a new task.
public enum ShapeChange: Hashable, Sendable {
    /// The leading dimension grew or shrank, the other dimensions are equal and the dtype is equal or
    /// one ``DTypeConversion`` converts to (a fine-tune saved in another precision): a word-
    /// embedding matrix, an `lm_head` or an output bias that gained (or lost) vocabulary rows. Both
    /// sides are row-major, so the rows they share are the first `min(baseRows, finetunedRows)`
    /// rows, the same element prefix on both sides. `rowElements` is the elements per row (1 for a
    /// vector).
    case resized(baseRows: Int, finetunedRows: Int, rowElements: Int)
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
        if case let .resized(b, f, _) = self { return min(b, f) }
        return 0
    }

    /// Elements of the shared rows: the prefix of both sides that is compared element by element.
    public var sharedElements: Int {
        if case let .resized(b, f, row) = self { return min(b, f) * row }
        return 0
    }

    /// Rows the fine-tune added (negative: removed).
    public var addedRows: Int {
        if case let .resized(b, f, _) = self { return f - b }
        return 0
    }

    /// "+2 rows (new tokens 30522-30523)", "-3 rows (rows 50257-50259 removed)", "replaced".
    public var summary: String {
        guard case let .resized(b, f, _) = self else { return "replaced" }
        if f >= b {
            let range = f - b == 1 ? "new token \(b)" : "new tokens \(b)-\(f - 1)"
            return "+\(f - b) row\(f - b == 1 ? "" : "s") (\(range))"
        }
        let range = b - f == 1 ? "row \(f)" : "rows \(f)-\(b - 1)"
        return "-\(b - f) row\(b - f == 1 ? "" : "s") (\(range) removed)"
    }
}
