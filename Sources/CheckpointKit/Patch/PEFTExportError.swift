/// Why a fine-tune cannot be written as a PEFT adapter (`ckpt patch --format peft`). Each case
/// names the file and, where there is one, the tensor.
public enum PEFTExportError: Error, CustomStringConvertible, Equatable {
    /// The fine-tune changed a tensor that neither an `LN_TUNING` adapter (LayerNorm modules) nor
    /// `modules_to_save` (the task head) can carry exactly.
    case notExpressible(path: String, tensor: String, reason: String)
    /// The fine-tune changed no LayerNorm: an LN_TUNING adapter needs at least one target module.
    case noLayerNormChanged(path: String)
    /// The adapter directory exists and holds files.
    case directoryNotEmpty(path: String)
    /// The adapter directory could not be made or published.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notExpressible(path, tensor, reason):
            return "\(path): tensor '\(tensor)': not expressible as a PEFT LN_TUNING adapter: \(reason)"
        case let .noLayerNormChanged(path):
            return "\(path): the fine-tune changed no LayerNorm module; an LN_TUNING adapter needs at least one"
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
        case .notExpressible, .noLayerNormChanged, .directoryNotEmpty: return .badInput
        case .writeFailed: return .io
        }
    }

    public var remedy: ErrorRemedy? {
        if case .notExpressible = self { return .keepLayerNormAndHead }
        return nil
    }
}
