/// A touched tensor as the writer plans it.
struct PlannedTensor {
    enum Source {
        case pair(TensorPair, ElementChoice)
        case new(TensorInfo)
        /// The fine-tune's tensor as it is, under the base's name: a replaced head, or a resized
        /// tensor kept whole when that is smaller than its changes.
        case whole(TensorPair)
        /// A resized tensor: the kept changes of the shared rows, plus the added rows when `keepRows`.
        case resized(TensorPair, ElementChoice, keepRows: Bool)
    }

    var record: PatchTensorRecord
    var source: Source
    /// The dtype and shape of the stored values (dense: the result tensor; sparse: `.values` dtype).
    var dtype: DType
    var shape: [Int]
    /// Entries stored (dense: numel; sparse: changed entries kept; resized: kept entries plus the
    /// added rows' entries).
    var stored: Int
    /// Entries that differ from the base.
    var changed: Int
    var indexDType: DType
    /// The result's shape when it is not the base tensor's (metadata `shapes`).
    var resultShape: [Int]? = nil
    /// The shape of the `.rows` entry of a resized tensor that gained rows.
    var rowsShape: [Int]? = nil

    /// The safetensors entries this tensor occupies: name, dtype, shape.
    var entries: [(name: String, dtype: DType, shape: [Int])] {
        switch record.storage {
        case .dense, .new: return [(record.name, dtype, shape)]
        case .converted: return []
        case .sparse, .resized:
            let kept = stored - (rowsShape?.reduce(1, *) ?? 0)
            var list = [(record.name + PatchFormat.indicesSuffix, indexDType, [kept]),
                        (record.name + PatchFormat.valuesSuffix, dtype, [kept])]
            if let rowsShape { list.append((record.name + PatchFormat.rowsSuffix, dtype, rowsShape)) }
            return list
        }
    }

    var byteCount: Int {
        entries.reduce(0) { $0 + $1.shape.reduce($1.dtype.bitWidth, *) / 8 }
    }
}
