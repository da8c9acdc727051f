/// The pickle globals a checkpoint may name: the subset of `torch.load(weights_only=True)`'s
/// allow-list (`torch/_weights_only_unpickler.py`, `_get_allowed_globals`) that tensors, state dicts
/// and optimizer states are made of. None of them is ever run: ``PickleMachine`` knows what each
/// would build and builds that itself. Any other global is refused by name.
public enum PickleGlobal: Sendable, Equatable {
    case orderedDict
    case rebuildTensorV2
    case rebuildTensorV3
    case rebuildParameter
    case rebuildParameterWithState
    case rebuildFromTypeV2
    /// `_codecs.encode(str, 'latin1')`, how protocol 2 spells Python 3 `bytes`.
    case codecsEncode
    /// `torch.Size(tuple)`.
    case torchSize
    /// `torch.device('cpu')`.
    case device
    /// `torch.Tensor` or `torch.nn.parameter.Parameter` (a type for `_rebuild_from_type_v2`).
    case tensorType
    /// A legacy typed storage class (`torch.FloatStorage`): its element type.
    case storageType(DType)
    /// `torch.storage.UntypedStorage`: bytes, the tensor carries the dtype.
    case untypedStorage
    /// A dtype object (`torch.float8_e4m3fn`), an argument of `_rebuild_tensor_v3`.
    case dtype(DType)

    /// The `module.name` spelling.
    public var qualifiedName: String {
        PickleGlobal.table.first { $0.value == self }?.key ?? "?"
    }

    /// The allowed global `module.name`, or nil when it is not allowed.
    public static func named(_ qualifiedName: String) -> PickleGlobal? { table[qualifiedName] }

    /// Storage class names and the dtypes they hold (`torch/storage.py`,
    /// `_dtype_to_storage_type_map`). Complex128 and the quantized storages have no ``DType``.
    static let storageTypes: [String: DType] = [
        "FloatStorage": .f32, "DoubleStorage": .f64, "HalfStorage": .f16, "BFloat16Storage": .bf16,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8,
        "ByteStorage": .u8, "BoolStorage": .bool, "ComplexFloatStorage": .c64,
    ]

    /// dtype objects (`torch.float32`, ...) and the ``DType`` each is.
    static let dtypes: [String: DType] = [
        "float32": .f32, "float64": .f64, "float16": .f16, "bfloat16": .bf16,
        "int64": .i64, "int32": .i32, "int16": .i16, "int8": .i8,
        "uint8": .u8, "uint16": .u16, "uint32": .u32, "uint64": .u64, "bool": .bool,
        "complex64": .c64,
        "float8_e4m3fn": .f8E4M3, "float8_e5m2": .f8E5M2, "float8_e4m3fnuz": .f8E4M3FNUZ,
        "float8_e5m2fnuz": .f8E5M2FNUZ, "float8_e8m0fnu": .f8E8M0,
    ]

    static let table: [String: PickleGlobal] = {
        var table: [String: PickleGlobal] = [
            "collections.OrderedDict": .orderedDict,
            "torch._utils._rebuild_tensor_v2": .rebuildTensorV2,
            "torch._utils._rebuild_tensor_v3": .rebuildTensorV3,
            "torch._utils._rebuild_parameter": .rebuildParameter,
            "torch._utils._rebuild_parameter_with_state": .rebuildParameterWithState,
            "torch._tensor._rebuild_from_type_v2": .rebuildFromTypeV2,
            "_codecs.encode": .codecsEncode,
            "torch.Size": .torchSize,
            "torch.device": .device,
            "torch.Tensor": .tensorType,
            "torch.nn.parameter.Parameter": .tensorType,
            "torch.storage.UntypedStorage": .untypedStorage,
        ]
        for (name, dtype) in storageTypes { table["torch." + name] = .storageType(dtype) }
        for (name, dtype) in dtypes { table["torch." + name] = .dtype(dtype) }
        return table
    }()
}
