/// A touched tensor as the writer plans it.
struct PlannedTensor {
    enum Source {
        case pair(TensorPair, ElementChoice)
        case new(TensorInfo)
    }

    var record: PatchTensorRecord
    var source: Source
    /// The dtype and shape of the stored values (dense: the result tensor; sparse: `.values` dtype).
    var dtype: DType
    var shape: [Int]
    /// Entries stored (dense: numel; sparse: changed entries kept).
    var stored: Int
    /// Entries that differ from the base.
    var changed: Int
    var indexDType: DType

    /// The safetensors entries this tensor occupies: name, dtype, shape.
    var entries: [(name: String, dtype: DType, shape: [Int])] {
        switch record.storage {
        case .dense, .new: return [(record.name, dtype, shape)]
        case .converted: return []
        case .sparse:
            return [(record.name + PatchFormat.indicesSuffix, indexDType, [stored]),
                    (record.name + PatchFormat.valuesSuffix, dtype, [stored])]
        }
    }

    var byteCount: Int {
        entries.reduce(0) { $0 + $1.shape.reduce($1.dtype.bitWidth, *) / 8 }
    }
}
