/// Why a fine-tune cannot be written as a PEFT adapter (`ckpt patch --format peft`). Each case
/// names the file and, where there is one, the tensor.
public enum PEFTExportError: Error, CustomStringConvertible, Equatable {
    /// The fine-tune changed a tensor that neither an `LN_TUNING` adapter (LayerNorm modules), a
    /// `BEFT` adapter (Linear biases) nor `modules_to_save` (the task head) carries exactly; `keep`
    /// is the nearest selection specification whose result an adapter does carry.
    case notExpressible(path: String, tensor: String, reason: String, keep: String?)
    /// The fine-tune changed no LayerNorm and no bias: an adapter needs at least one target module.
    case noAdaptableChange(path: String)
    /// The adapter directory exists and holds files.
    case directoryNotEmpty(path: String)
    /// The adapter directory could not be made or published.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notExpressible(path, tensor, reason, _):
            return "\(path): tensor '\(tensor)': not expressible as a PEFT adapter (LN_TUNING or BEFT): \(reason)"
        case let .noAdaptableChange(path):
            return "\(path): the fine-tune changed no LayerNorm module and no Linear bias; a PEFT LN_TUNING or BEFT adapter needs at least one"
        case let .directoryNotEmpty(path):
            return "\(path): the adapter directory exists and is not empty; write to a new or empty directory"
        case let .writeFailed(path, reason):
            return "\(path): cannot write the adapter directory: \(reason)"
        }
    }
}

extension PEFTExportError: CategorizedError {
    public var category: FailureCategory {
        switch self {
        case .notExpressible, .noAdaptableChange, .directoryNotEmpty: return .badInput
        case .writeFailed: return .io
        }
    }

    public var remedy: ErrorRemedy? {
        if case let .notExpressible(_, _, _, keep?) = self { return .keepOnly(selection: keep) }
        return nil
    }
}
