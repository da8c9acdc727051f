/// What a PEFT adapter does to each tensor of its base, worked out from the names and shapes alone
/// (nothing is read): which base tensor every adapter entry pairs with (through
/// ``CheckpointAlignment``, so a `bert.` the base lacks or a training wrapper is handled as in
/// `ckpt diff`), the LoRA factors and scaling of each target, and the tensors the adapter adds.
struct PEFTImportPlan: Sendable {
    /// The low-rank change of one target: scaling · B A, transposed when the target stores
    /// (in, out) (GPT-2 `Conv1D` with `fan_in_fan_out`, and every embedding).
    struct LoRAFactors: Sendable {
        var a: TensorInfo
        var b: TensorInfo
        /// `lora_alpha / r` (rsLoRA: `lora_alpha / sqrt(r)`), with the module's `rank_pattern` /
        /// `alpha_pattern` entries.
        var scaling: Double
        var transposed: Bool
        /// An embedding's change is rounded to the weight's dtype before it is added
        /// (`Embedding.merge`: `weight += delta.to(orig_dtype)`); a `Linear`'s is added in F32.
        var roundsChangeFirst: Bool
    }

    /// A vector added to a bias: BEFT's `beft_bias` (scaling nil), or `lora_B.bias` times the scaling.
    struct BiasDelta: Sendable {
        var vector: TensorInfo
        var scaling: Double?
    }

    /// One tensor of the merged model that the adapter sets.
    struct Target: Sendable {
        /// Name, dtype and shape in the merged model (the base's name and dtype; a new tensor gets
        /// the base's naming style and float dtype).
        var info: TensorInfo
        /// The base tensor, nil for a tensor the base lacks (a new task head).
        var base: TensorInfo?
        /// The adapter tensor whose values replace the base's before any change is added.
        var replacement: TensorInfo?
        var lora: LoRAFactors?
        var biasDeltas: [BiasDelta] = []
    }

    /// Every tensor of the merged model: the base's, in order (the targets' infos in place), then
    /// the added ones.
    var tensors: [TensorInfo]
    /// The targets by merged name.
    var targets: [String: Target]

    /// The entries of the adapter, grouped by the model tensor they concern (the name as the
    /// adapter's model spells it).
    struct Entry {
        var replacement: TensorInfo?
        var loraA: TensorInfo?
        var loraB: TensorInfo?
        var embedding = false
        var biasDeltas: [(TensorInfo, module: String?)] = []
        /// The module whose `rank_pattern` / `alpha_pattern` entries apply.
        var module = ""
    }

    init(base: any Checkpoint, adapter: PEFTAdapter) throws {
        let entries = try Self.entries(of: adapter)
        let wanted = try entries.keys.sorted().map { name in TensorInfo(name: name, dtype: .f32, shape: try Self.shape(of: entries[name]!, adapter: adapter), byteCount: 0) }
        let alignment = CheckpointAlignment(base: base.tensors, finetuned: wanted)
        var targets: [String: Target] = [:]
        for pair in alignment.pairs {
            let target = try Self.target(entries[pair.finetuned.name]!, name: pair.finetuned.name, base: pair, adapter: adapter, checkpoint: base)
            targets[target.info.name] = target
        }
        let floatType = Self.floatType(of: base)
        var added: [TensorInfo] = []
        for info in alignment.onlyInFinetuned {
            let entry = entries[info.name]!
            guard let replacement = entry.replacement, entry.loraA == nil, entry.biasDeltas.isEmpty else {
                throw PEFTAdapterError.targetNotInBase(path: adapter.path, tensor: info.name, base: base.path)
            }
            let name = alignment.baseStyleName(ofNew: info)
            let merged = TensorInfo(name: name, dtype: floatType ?? replacement.dtype, shape: replacement.shape,
                                    byteCount: replacement.elementCount * ((floatType ?? replacement.dtype).bitWidth / 8))
            targets[name] = Target(info: merged, base: nil, replacement: replacement)
            added.append(merged)
        }
        tensors = base.tensors.map { targets[$0.name]?.info ?? $0 } + added
        self.targets = targets
    }

    /// The base's most common float dtype: what a tensor the adapter adds is stored as (peft loads
    /// a new head into a module of the model's dtype).
    static func floatType(of base: any Checkpoint) -> DType? {
        var counts: [DType: Int] = [:]
        for t in base.tensors where [.f32, .bf16, .f16].contains(t.dtype) { counts[t.dtype, default: 0] += 1 }
        return counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key.rawValue < $1.key.rawValue) }?.key
    }
}
