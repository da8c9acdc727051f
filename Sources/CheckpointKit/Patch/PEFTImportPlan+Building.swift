/// Building a ``PEFTImportPlan``: the adapter's entries grouped by model tensor, their shapes, and
/// each one checked against the base tensor it pairs with.
extension PEFTImportPlan {
    /// The modules transformers builds as GPT-2's `Conv1D` (weight stored (in, out)): GPT-2,
    /// DistilGPT-2 and OpenAI GPT name them so; every other LoRA target is an `nn.Linear`.
    static let conv1DModules: Set<String> = ["c_attn", "c_proj", "c_fc", "q_attn"]

    /// The adapter's tensors grouped by the model tensor they concern.
    static func entries(of adapter: PEFTAdapter) throws(PEFTAdapterError) -> [String: Entry] {
        var entries: [String: Entry] = [:]
        let method = adapter.settings.method
        for tensor in adapter.tensors {
            let key = try PEFTImportKey(tensor.name, path: adapter.path)
            func refuse() -> PEFTAdapterError {
                .invalidTensor(path: adapter.path, tensor: tensor.name, reason: "not a parameter of a \(method.rawValue) adapter")
            }
            switch key {
            case let .loraA(module), let .embeddingA(module):
                guard method == .lora else { throw refuse() }
                entries[module + ".weight", default: Entry(module: module)].loraA = tensor
                if case .embeddingA = key { entries[module + ".weight"]!.embedding = true }
            case let .loraB(module), let .embeddingB(module):
                guard method == .lora else { throw refuse() }
                entries[module + ".weight", default: Entry(module: module)].loraB = tensor
                if case .embeddingB = key { entries[module + ".weight"]!.embedding = true }
            case let .loraBias(module):
                guard method == .lora else { throw refuse() }
                entries[module + ".bias", default: Entry(module: module)].biasDeltas.append((tensor, module))
            case let .beftBias(module):
                guard method == .beft else { throw refuse() }
                entries[module + ".bias", default: Entry(module: module)].biasDeltas.append((tensor, nil))
            case let .replacement(name):
                entries[name, default: Entry()].replacement = tensor
            }
        }
        return entries
    }

    /// The shape the model tensor has after the adapter: a replacement's own shape; for LoRA,
    /// (out, in) from B (out, r) and A (r, in), or (in, out) under `fan_in_fan_out` and for an
    /// embedding; for a bias delta, its length.
    static func shape(of entry: Entry, adapter: PEFTAdapter) throws(PEFTAdapterError) -> [Int] {
        if let replacement = entry.replacement { return replacement.shape }
        if let factors = try loraShapes(entry, adapter: adapter) {
            return entry.embedding || adapter.settings.fanInFanOut ? [factors.in, factors.out] : [factors.out, factors.in]
        }
        return [entry.biasDeltas.first?.0.elementCount ?? 0]
    }

    /// The (out, r, in) of a LoRA target, checked: both factors present, 2-D, ranks equal.
    static func loraShapes(_ entry: Entry, adapter: PEFTAdapter) throws(PEFTAdapterError) -> (out: Int, rank: Int, in: Int)? {
        guard entry.loraA != nil || entry.loraB != nil else { return nil }
        guard let a = entry.loraA, let b = entry.loraB else {
            let present = (entry.loraA ?? entry.loraB)!
            throw .invalidTensor(path: adapter.path, tensor: present.name, reason: "its other LoRA factor (A or B) is missing")
        }
        guard a.shape.count == 2, b.shape.count == 2, a.shape[0] == b.shape[1], a.shape[0] > 0 else {
            throw .invalidTensor(path: adapter.path, tensor: a.name, reason: "LoRA factors A \(a.shape) and B \(b.shape) are not (r, in) and (out, r)")
        }
        for factor in [a, b] where ![.f32, .bf16, .f16].contains(factor.dtype) {
            throw .invalidTensor(path: adapter.path, tensor: factor.name, reason: "stored as \(factor.dtype.rawValue); LoRA factors are F32, BF16 or F16")
        }
        return (b.shape[0], a.shape[0], a.shape[1])
    }

    /// One entry checked against its base tensor.
    static func target(_ entry: Entry, name: String, base pair: TensorPair, adapter: PEFTAdapter,
                       checkpoint: any Checkpoint) throws(PEFTAdapterError) -> Target {
        let base = pair.base
        let fail = { (reason: String) in PEFTAdapterError.shapeMismatch(path: adapter.path, tensor: name, base: "\(checkpoint.path) '\(base.name)'", reason: reason) }
        guard pair.baseLayout == .identity else { throw fail("the base stores it transposed (a TensorFlow kernel); ckpt merges adapters onto PyTorch-layout bases") }
        let arithmetic = entry.loraA != nil || !entry.biasDeltas.isEmpty
        guard !arithmetic || [.f32, .bf16, .f16].contains(base.dtype) else {
            throw .unmergeableDType(path: adapter.path, tensor: base.name, dtype: base.dtype)
        }
        if let replacement = entry.replacement, let reason = DTypeConversion.refusal(from: replacement.dtype, to: base.dtype) {
            throw .invalidTensor(path: adapter.path, tensor: replacement.name, reason: "cannot be stored as the base's \(base.dtype.rawValue): \(reason)")
        }
        let shape = entry.replacement?.shape ?? base.shape
        let count = shape.reduce(1, *)
        var target = Target(info: TensorInfo(name: base.name, dtype: base.dtype, shape: shape, byteCount: count * (base.dtype.bitWidth / 8)),
                            base: base, replacement: entry.replacement)
        if let factors = try loraShapes(entry, adapter: adapter) {
            let normal = [factors.out, factors.in], flipped = [factors.in, factors.out]
            let preferTransposed = entry.embedding || adapter.settings.fanInFanOut
            let transposed: Bool
            if !entry.embedding, factors.in == factors.out,
               Self.conv1DModules.contains(String(entry.module.split(separator: ".").last ?? "")) != adapter.settings.fanInFanOut {
                // peft sets fan_in_fan_out per module type (Conv1D true, Linear false) and saves the
                // last module's value, so on a square matrix the flag may not be this module's.
                throw fail("square B A with fan_in_fan_out \(adapter.settings.fanInFanOut), but the module's name says \(adapter.settings.fanInFanOut ? "nn.Linear" : "GPT-2 Conv1D"); the orientation peft used cannot be told")
            }
            if shape == (preferTransposed ? flipped : normal) {
                transposed = preferTransposed
            } else if !entry.embedding, factors.in != factors.out, shape == (preferTransposed ? normal : flipped) {
                transposed = !preferTransposed  // peft flips fan_in_fan_out per module type (Linear / Conv1D)
            } else {
                throw fail("B A is \(factors.out) x \(factors.in), the tensor is \(shape)")
            }
            let scaling = try Self.scaling(module: entry.module, rank: factors.rank, adapter: adapter, tensor: entry.loraA!.name)
            target.lora = LoRAFactors(a: entry.loraA!, b: entry.loraB!, scaling: scaling, transposed: transposed, roundsChangeFirst: entry.embedding)
        }
        for (vector, module) in entry.biasDeltas {
            guard [.f32, .bf16, .f16].contains(vector.dtype) else {
                throw .invalidTensor(path: adapter.path, tensor: vector.name, reason: "stored as \(vector.dtype.rawValue); bias changes are F32, BF16 or F16")
            }
            guard vector.elementCount == count else { throw fail("the bias change has \(vector.elementCount) values, the tensor \(count)") }
            var scaling: Double?
            if let module { scaling = try Self.scaling(module: module, rank: nil, adapter: adapter, tensor: vector.name) }
            target.biasDeltas.append(BiasDelta(vector: vector, scaling: scaling))
        }
        return target
    }

    /// The module's scaling, its rank and alpha taken from `rank_pattern` / `alpha_pattern` as peft
    /// does (`LoraModel._create_and_replace`); a saved rank other than the config's is refused.
    static func scaling(module: String, rank saved: Int?, adapter: PEFTAdapter, tensor: String) throws(PEFTAdapterError) -> Double {
        let s = adapter.settings
        let rank = try PEFTPatternKey.firstMatch(s.rankPattern, module: module, path: adapter.configPath).map { Int($0.value) } ?? s.rank
        let alpha = try PEFTPatternKey.firstMatch(s.alphaPattern, module: module, path: adapter.configPath)?.value ?? s.alpha
        if let saved, saved != rank {
            throw .invalidTensor(path: adapter.path, tensor: tensor, reason: "rank \(saved), but the config gives '\(module)' rank \(rank)")
        }
        return s.scaling(rank: rank, alpha: alpha)
    }
}
