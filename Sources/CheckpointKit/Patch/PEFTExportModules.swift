/// The modules a fine-tune's changes touch, sorted by how a PEFT adapter carries them: LayerNorm
/// modules (copied whole: `LN_TUNING` layers, or `modules_to_save` next to BEFT), `nn.Linear` biases
/// (BEFT deltas) and the task head (`modules_to_save`). A changed tensor none of them carries
/// exactly is refused.
struct PEFTExportModules {
    /// Module names as the fine-tune stores them.
    var layerNorms = Set<String>()
    /// Linear module name -> its bias pair.
    var biases: [String: TensorPair] = [:]
    /// Top-level head modules, training wrappers removed.
    var heads = Set<String>()
    /// The first changed tensor no method carries, and why.
    var refused: (tensor: String, reason: String)?
    /// Whether any refused tensor is a bias (then `bias` is not part of a selection that works).
    var refusedBias = false
    /// Whether any refused tensor is a LayerNorm parameter (then `layernorm` is not part of one).
    var refusedLayerNorm = false
    /// Whether a refusal is one no selection avoids (a fine-tune stored in another dtype).
    var refusedWhatever = false

    init(maker: PatchMaker, plan: PatchPlan, finetunedByName: [String: TensorInfo]) {
        for tensor in plan.tensors {
            let (name, role, changed) = PEFTExport.describe(tensor)
            guard changed else { continue }
            if tensor.record.storage == .converted {
                // A dtype change is planned whatever the selection says.
                refuse(name, PEFTExport.reason(for: tensor, role: role), role: role)
                refusedWhatever = true
            } else if let problem = PEFTExport.namingProblem(name, tensor: tensor) {
                refuse(name, problem, role: role)
            } else if PEFTExportModules.isHead(name) {
                // By the fine-tune's own name: a prefix search may pair a new head's `classifier.dense`
                // with the base's `pooler.dense` (RoBERTa), but PEFT saves the head module whole.
                heads.insert(PEFTExport.topModule(of: PEFTExport.peftName(name)))
            } else if role.kind.isLayerNorm, case .pair = tensor.source, tensor.record.storage != .converted {
                layerNorms.insert(PEFTExport.module(of: name))
            } else if role.kind == .bias, case let .pair(pair, choice) = tensor.source, tensor.record.storage != .converted {
                if choice != .all {
                    // A BEFT delta adds the whole change; a mask keeping part of it cannot be expressed.
                    refuse(name, "the selection keeps only part of its change; a BEFT delta carries the whole bias", role: role)
                } else if let problem = PEFTExportModules.beftProblem(pair, finetunedByName: finetunedByName) {
                    refuse(name, problem, role: role)
                } else {
                    biases[PEFTExport.module(of: name)] = pair
                }
            } else {
                refuse(name, PEFTExport.reason(for: tensor, role: role), role: role)
            }
        }
        // The whole head, changed or not: for a task type peft wraps the head in modules_to_save
        // anyway and would then expect its weights in the adapter.
        for info in maker.finetuned.tensors where PEFTExportModules.isHead(info.name) {
            heads.insert(PEFTExport.topModule(of: PEFTExport.peftName(info.name)))
        }
    }

    /// Whether a fine-tune's parameter belongs to its task head (`classifier`, `pre_classifier`, ...).
    static func isHead(_ name: String) -> Bool {
        ParameterNames.role(of: PEFTExport.peftName(name), dtype: nil).component == .head
    }

    mutating func refuse(_ tensor: String, _ reason: String, role: ParameterRole) {
        if refused == nil { refused = (tensor, reason) }
        refusedBias = refusedBias || role.kind.isBias
        refusedLayerNorm = refusedLayerNorm || role.kind.isLayerNorm
    }

    /// The nearest `--select` specification whose result an adapter carries: the kinds of change
    /// that were expressible, or nil when there are none or no selection avoids a refusal.
    var workingSelection: String? {
        guard !refusedWhatever else { return nil }
        var terms: [String] = []
        if !layerNorms.isEmpty && !refusedLayerNorm { terms.append("layernorm") }
        if !biases.isEmpty && !refusedBias { terms.append("bias") }
        if !heads.isEmpty, !terms.isEmpty { terms.append("head") }
        return terms.isEmpty ? nil : terms.joined(separator: ",")
    }

    /// Why a changed bias is not one BEFT can carry, or nil: BEFT adapts `nn.Linear` only (not
    /// GPT-2's `Conv1D`, whose modules are named `c_*`), and its delta is exported for F32 biases
    /// only (peft casts the delta to the layer's dtype, so a BF16/F16 delta would round).
    static func beftProblem(_ pair: TensorPair, finetunedByName: [String: TensorInfo]) -> String? {
        guard pair.base.dtype == .f32, pair.finetuned.dtype == .f32 else {
            return "a \(pair.finetuned.dtype.rawValue) bias; BEFT deltas are exported for F32 biases only (a lower-precision delta would round)"
        }
        let module = PEFTExport.module(of: pair.finetuned.name)
        if module.split(separator: ".").last?.hasPrefix("c_") == true {
            return "a GPT-2 Conv1D bias; BEFT adapts nn.Linear layers only"
        }
        guard pair.isDirect, pair.finetuned.shape.count == 1, let weight = finetunedByName[module + ".weight"],
              weight.shape.count == 2, weight.shape[0] == pair.finetuned.elementCount else {
            return "not the bias of a Linear layer; BEFT adapts nn.Linear layers only"
        }
        return nil
    }
}
