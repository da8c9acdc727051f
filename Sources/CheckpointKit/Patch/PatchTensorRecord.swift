/// How one touched tensor is stored.
public enum PatchStorage: Character, Sendable, Codable {
    /// `<name>`: the whole result tensor.
    case dense = "d"
    /// `<name>.indices` + `<name>.values`: the changed entries.
    case sparse = "s"
    /// `<name>` under the fine-tune's name: a tensor the base does not have, appended to the output.
    case new = "n"
    /// `<name>.indices` + `<name>.values` (changed entries of the rows base and result share) and,
    /// when rows were added, `<name>.rows` (the added rows, dense): a tensor whose leading dimension
    /// changed (version 2; the result shape is in `shapes`).
    case resized = "r"
    /// No entry: the base tensor converted to another dtype (`convert`) is the result (version 2).
    case converted = "c"

    public var label: String {
        switch self {
        case .dense: return "dense"
        case .sparse: return "sparse"
        case .new: return "new"
        case .resized: return "resized"
        case .converted: return "converted"
        }
    }
}

/// What the metadata says about one touched tensor.
public struct PatchTensorRecord: Sendable, Equatable {
    /// The base's name (the fine-tune's name for ``PatchStorage/new`` tensors).
    public var name: String
    public var storage: PatchStorage
    /// First 16 hex digits of the SHA-256 of the base tensor's bytes; nil for new tensors.
    public var baseHash: String?
    /// First 16 hex digits of the SHA-256 of the result tensor's bytes.
    public var resultHash: String
    /// The fine-tune's name for this tensor.
    public var finetunedName: String
    /// The dtype the base tensor is converted to before the stored entries apply (`convert`), or
    /// nil. Sparse values are then in this dtype and index the entries that differ from the
    /// converted base.
    public var conversion: DType?

    public init(name: String, storage: PatchStorage, baseHash: String?, resultHash: String, finetunedName: String,
                conversion: DType? = nil) {
        self.name = name
        self.storage = storage
        self.baseHash = baseHash
        self.resultHash = resultHash
        self.finetunedName = finetunedName
        self.conversion = conversion
    }
}
