/// Why a PEFT adapter directory cannot be read, or cannot be merged onto a base. Each case names
/// the file (or the directory) and, where there is one, the tensor; the text is one line.
public enum PEFTAdapterError: CategorizedError, CustomStringConvertible, Sendable, Equatable {
    /// `adapter_config.json` is missing, too large, not JSON, or a field has the wrong type.
    case invalidConfig(path: String, reason: String)
    /// A `peft_type` ckpt does not read (ckpt reads `LORA`, `LN_TUNING` and `BEFT`).
    case unsupportedMethod(path: String, peftType: String)
    /// A setting whose merged weights ckpt does not compute (DoRA, a base-modifying initialisation,
    /// a LoRA variant), refused rather than ignored.
    case unsupportedSetting(path: String, setting: String, reason: String)
    /// Neither `adapter_model.safetensors` nor `adapter_model.bin` beside the config.
    case missingWeights(path: String)
    /// An adapter tensor that is not what its name says (a LoRA factor of the wrong rank or shape,
    /// an adapter parameter ckpt does not know).
    case invalidTensor(path: String, tensor: String, reason: String)
    /// A module the adapter changes has no tensor in the base.
    case targetNotInBase(path: String, tensor: String, base: String)
    /// The adapter's change does not fit the base tensor it pairs with.
    case shapeMismatch(path: String, tensor: String, base: String, reason: String)
    /// A base tensor the adapter changes arithmetically (LoRA, a bias delta) in a dtype ckpt does
    /// not merge in (it merges onto F32, BF16 and F16, as peft does on a CPU).
    case unmergeableDType(path: String, tensor: String, dtype: DType)

    public var category: FailureCategory {
        switch self {
        case .targetNotInBase, .shapeMismatch: return .mismatch
        default: return .badInput
        }
    }

    public var description: String {
        switch self {
        case let .invalidConfig(path, reason):
            return "\(path): invalid PEFT adapter config: \(reason)"
        case let .unsupportedMethod(path, peftType):
            return "\(path): PEFT adapter type \(peftType) is not supported (ckpt reads LORA, LN_TUNING and BEFT adapters)"
        case let .unsupportedSetting(path, setting, reason):
            return "\(path): \(setting) is not supported: \(reason)"
        case let .missingWeights(path):
            return "\(path): PEFT adapter directory has no adapter_model.safetensors or adapter_model.bin"
        case let .invalidTensor(path, tensor, reason):
            return "\(path): adapter tensor '\(tensor)': \(reason)"
        case let .targetNotInBase(path, tensor, base):
            return "\(path): adapter changes '\(tensor)', which \(base) does not have (another base model?)"
        case let .unmergeableDType(path, tensor, dtype):
            return "\(path): adapter changes '\(tensor)', which the base stores as \(dtype.rawValue); ckpt merges onto F32, BF16 and F16 tensors"
        case let .shapeMismatch(path, tensor, base, reason):
            return "\(path): adapter change of '\(tensor)' does not fit \(base): \(reason)"
        }
    }
}
