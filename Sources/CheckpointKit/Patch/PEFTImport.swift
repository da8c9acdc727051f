/// PEFT adapter directories read as fine-tunes of their base (issue 15, import half): the one
/// entry point the commands call with what they opened, so that `ckpt diff BASE ADAPTER_DIR`,
/// `ckpt patch BASE ADAPTER_DIR`, `ckpt verify ... --finetuned ADAPTER_DIR` and
/// `ckpt apply BASE ADAPTER_DIR -o OUT` see the merged model peft's `merge_and_unload()` gives.
public enum PEFTImport {
    /// `checkpoint` merged onto `base` when it is a PEFT adapter directory; otherwise `checkpoint`.
    public static func merged(_ checkpoint: any Checkpoint, onto base: any Checkpoint) throws -> any Checkpoint {
        guard let adapter = checkpoint as? PEFTAdapter else { return checkpoint }
        return try PEFTMergedCheckpoint(base: base, adapter: adapter)
    }

    /// Whether `path` is a PEFT adapter directory (it holds an `adapter_config.json`).
    public static func isAdapterDirectory(_ path: String) -> Bool { PEFTAdapter.isAdapterDirectory(path) }

    /// What `ckpt apply BASE ADAPTER_DIR -o OUT` wrote.
    public struct Report: Encodable, Sendable {
        public var output: String
        public var base: String
        public var adapter: String
        public var peftType: String
        /// Tensors written.
        public var tensors: Int
        /// Base tensors the adapter changed (LoRA, a bias delta) or replaced (LN_TUNING, modules_to_save).
        public var changed: Int
        /// Tensors the base lacks (a new task head).
        public var added: Int
        public var bytes: Int

        enum CodingKeys: String, CodingKey {
            case output, base, adapter, tensors, changed, added, bytes
            case peftType = "peft_type"
        }
    }

    /// Writes the merged model (safetensors, the base's tensor order, names and dtypes, the base's
    /// metadata, added tensors last), atomically; OUT may not be one of the inputs. Before the
    /// rename the written file is read back and its tensor list checked.
    public static func apply(base: any Checkpoint, adapter: any Checkpoint, to output: String) throws -> Report {
        guard let adapter = adapter as? PEFTAdapter else {
            throw PEFTAdapterError.invalidConfig(path: adapter.path, reason: "not a PEFT adapter directory")
        }
        let merged = try PEFTMergedCheckpoint(base: base, adapter: adapter)
        for input in merged.files where FileIdentity.same(output, input) {
            throw PatchError.outputIsInput(output: output, input: input)
        }
        let written = try merged.writeModifiedCopy(CheckpointEdit(), to: output) { temporary in
            let copy = try CheckpointOpener.openSafetensors(temporary)
            guard copy.tensors.map(\.name) == merged.tensors.map(\.name) else {
                throw CheckpointError.writeFailed(path: output, reason: "the written file's tensor list differs from the merged model's")
            }
        }
        let added = merged.plan.targets.values.filter { $0.base == nil }.count
        return Report(output: output, base: base.path, adapter: adapter.path, peftType: adapter.settings.method.rawValue,
                      tensors: merged.tensors.count, changed: merged.plan.targets.count - added, added: added, bytes: written.bytes)
    }
}
