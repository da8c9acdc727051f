/// A base with a PEFT adapter merged in, read as a fine-tune: the base's tensors, with every
/// tensor the adapter sets computed when it is read (``LoRAMerge``; one target at a time, so
/// memory stays at one tensor whatever the model's size) and the tensors it adds (a new task head)
/// after them. `ckpt diff`, `patch`, `verify` and `apply` work on it as on any fine-tune.
final class PEFTMergedCheckpoint: Checkpoint, @unchecked Sendable {
    let base: any Checkpoint
    let adapter: PEFTAdapter
    let plan: PEFTImportPlan

    init(base: any Checkpoint, adapter: PEFTAdapter) throws {
        self.base = base
        self.adapter = adapter
        plan = try PEFTImportPlan(base: base, adapter: adapter)
    }

    /// The adapter directory.
    var path: String { adapter.path }
    var format: CheckpointFormat { .peftAdapter }
    var tensors: [TensorInfo] { plan.tensors }
    var metadata: [String: String] { base.metadata }
    var copyMetadata: [String: String] { base.copyMetadata }
    var fileSize: Int { base.fileSize + adapter.fileSize }
    var files: [String] { base.files + adapter.files }
    var skipped: [SkippedObject] { base.skipped }

    func storedLocation(of tensor: TensorInfo) -> StoredLocation? {
        plan.targets[tensor.name] == nil ? base.storedLocation(of: tensor) : nil
    }

    func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let target = plan.targets[tensor.name] else { return try base.withBytes(of: tensor, body) }
        let bytes = try LoRAMerge.bytes(of: target, base: base, adapter: adapter, path: adapter.path)
        return try bytes.withUnsafeBytes(body)
    }
}
