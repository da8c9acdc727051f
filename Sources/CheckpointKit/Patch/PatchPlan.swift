/// What `ckpt patch` will write, worked out in one streaming pass over both checkpoints.
public struct PatchPlan {
    var tensors: [PlannedTensor]
    public var metadata: PatchMetadata
    public var shares: PatchShares
    /// Tensors left out for a reason other than the selection (shape mismatch outside the selection).
    public var notes: [String]
    /// Bytes of tensor data the patch holds (before compression).
    public var dataSize: Int

    /// Touched tensors: name, storage, dtype, stored and changed entries.
    public var touched: [(name: String, storage: PatchStorage, dtype: DType, stored: Int, changed: Int)] {
        tensors.map { ($0.record.name, $0.record.storage, $0.dtype, $0.stored, $0.changed) }
    }
}
