import CBLASLoader

/// The values of one merged tensor, computed as peft's `merge_and_unload()` computes them on a CPU
/// (`peft/tuners/lora/layer.py` `Linear.merge` / `get_delta_weight`, `beft/layer.py`): the base
/// tensor (or the adapter's saved copy of it, first stored in the base's dtype), plus
/// `(B @ A) * scaling` in `Float` (one `sgemm`, transposed for `fan_in_fan_out` and embeddings; the
/// scaling rounded to `Float` as PyTorch does a Python scalar), plus bias deltas, rounded once to the
/// base's dtype (PyTorch's in-place `+=` of an F32 delta into a BF16/F16 weight; an embedding's change
/// is rounded to that dtype first, as `Embedding.merge` does). peft loads the
/// adapter in F32 on a BF16/F16 base (`autocast_adapter_dtype=True`), which this follows.
enum LoRAMerge {
    /// The merged tensor's raw bytes in `target.info.dtype`.
    static func bytes(of target: PEFTImportPlan.Target, base: any Checkpoint, adapter: any Checkpoint, path: String) throws -> [UInt8] {
        let info = target.info
        let count = info.elementCount
        var out = [UInt8](repeating: 0, count: info.byteCount)
        // The starting values in the merged dtype: the saved copy converted, or the base's bytes.
        if let replacement = target.replacement {
            try adapter.withBytes(of: replacement) { raw in
                try out.withUnsafeMutableBytes { dst in
                    try DTypeConversion.convert(raw, from: replacement.dtype, to: info.dtype, count: count, into: dst, path: path, tensor: replacement.name)
                }
            }
        } else if let b = target.base {
            try base.withBytes(of: b) { raw in out.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<info.byteCount])) } }
        }
        guard target.lora != nil || !target.biasDeltas.isEmpty else { return out }
        var values = [Float](repeating: 0, count: count)
        out.withUnsafeBytes { raw in values.withUnsafeMutableBufferPointer { TensorDecoder.decode(raw, as: info.dtype, into: $0) } }
        if let lora = target.lora { try addLoRA(lora, to: &values, dtype: info.dtype, adapter: adapter, path: path) }
        for delta in target.biasDeltas {
            let vector = try TensorDecoder.floats(of: delta.vector, in: adapter)
            if let scaling = delta.scaling {
                let s = Float(scaling)
                for i in 0..<count { values[i] += vector[i] * s }
            } else {
                for i in 0..<count { values[i] += vector[i] }
            }
        }
        try values.withUnsafeBytes { raw in
            try out.withUnsafeMutableBytes { dst in
                try DTypeConversion.convert(raw, from: .f32, to: info.dtype, count: count, into: dst, path: path, tensor: info.name)
            }
        }
        return out
    }

    /// `values += transpose?(B @ A) * scaling`, element by element in `Float` (for an embedding,
    /// the change first rounded to `dtype`).
    static func addLoRA(_ lora: PEFTImportPlan.LoRAFactors, to values: inout [Float], dtype: DType,
                        adapter: any Checkpoint, path: String) throws {
        let a = try TensorDecoder.floats(of: lora.a, in: adapter)
        let b = try TensorDecoder.floats(of: lora.b, in: adapter)
        let rows = lora.b.shape[0], rank = lora.a.shape[0], columns = lora.a.shape[1]
        var product = [Float](repeating: 0, count: rows * columns)
        product.withUnsafeMutableBufferPointer { c in
            ckpt_blas_sgemm(0, 0, Int32(rows), Int32(columns), Int32(rank), 1, b, Int32(rank), a, Int32(columns), 0, c.baseAddress, Int32(columns))
        }
        let s = Float(lora.scaling)
        var change = [Float](repeating: 0, count: product.count)
        if lora.transposed {
            for i in 0..<rows { for j in 0..<columns { change[j * rows + i] = product[i * columns + j] * s } }
        } else {
            for k in 0..<product.count { change[k] = product[k] * s }
        }
        if lora.roundsChangeFirst && dtype != .f32 { try round(&change, to: dtype, path: path, tensor: lora.a.name) }
        for k in 0..<change.count { values[k] += change[k] }
    }

    /// `values` rounded to `dtype` and back, as PyTorch's `tensor.to(dtype)` rounds.
    static func round(_ values: inout [Float], to dtype: DType, path: String, tensor: String) throws {
        var narrow = [UInt8](repeating: 0, count: values.count * dtype.bitWidth / 8)
        try values.withUnsafeBytes { raw in
            try narrow.withUnsafeMutableBytes { try DTypeConversion.convert(raw, from: .f32, to: dtype, count: values.count, into: $0, path: path, tensor: tensor) }
        }
        narrow.withUnsafeBytes { raw in values.withUnsafeMutableBufferPointer { TensorDecoder.decode(raw, as: dtype, into: $0) } }
    }
}
