import Foundation

/// A fine-tune as a PEFT adapter (`ckpt patch --format peft`). LayerNorm-only changes become an
/// `LN_TUNING` adapter (each changed LayerNorm copied whole: PEFT's `LNTuningLayer` keeps a full
/// copy of the module); changes that include `nn.Linear` biases (BitFit) become a `BEFT` adapter
/// (additive F32 bias deltas, see ``PEFTBiasDelta``) with the changed LayerNorms saved whole in
/// `modules_to_save`. The task head goes in `modules_to_save` either way.
///
/// Key names follow peft's `get_peft_model_state_dict` (peft 0.21.2): `base_model.model.<module>.
/// ln_tuning_layers.weight` / `.bias`, `base_model.model.<module>.beft_bias` and
/// `base_model.model.<module>.<parameter>` for modules_to_save, the adapter name stripped. Module
/// names are the fine-tune's (the model PEFT wraps is the task model), training wrappers removed.
public struct PEFTExport {
    /// Where an adapter tensor's bytes come from.
    enum Source {
        /// The fine-tune's tensor as stored.
        case finetuned(TensorInfo)
        /// The base's tensor: a parameter of an exported module that the selection left as it was.
        case base(TensorInfo)
        /// A BEFT delta (F32).
        case delta([Float])
    }

    /// One tensor of `adapter_model.safetensors`.
    struct Tensor {
        var key: String
        var source: Source
        var dtype: DType
        var shape: [Int]
    }

    /// The `adapter_config.json` fields peft reads.
    public var config: PEFTAdapterConfig
    /// The adapter's tensors in the order written (sorted by key, as `safetensors.torch.save_file`).
    var tensors: [Tensor]
    /// BEFT only: how far a merged bias (base + delta) is from the fine-tune's; nil for LN_TUNING,
    /// whose copies are exact.
    public var biasAccuracy: PEFTBiasDelta.Accuracy?
    let base: any Checkpoint
    let finetuned: any Checkpoint
    let plan: PatchPlan
    let pairsByFinetuned: [String: TensorPair]
    let plannedByFinetuned: [String: PlannedTensor]

    /// Decides what the adapter holds from `plan` (made by `maker`), or refuses a change that no
    /// PEFT method here carries exactly.
    public init(maker: PatchMaker, plan: PatchPlan) throws {
        base = maker.base
        finetuned = maker.finetuned
        self.plan = plan
        pairsByFinetuned = Dictionary(maker.alignment.pairs.map { ($0.finetuned.name, $0) }, uniquingKeysWith: { a, _ in a })
        plannedByFinetuned = Dictionary(plan.tensors.map { (PEFTExport.describe($0).0, $0) }, uniquingKeysWith: { a, _ in a })
        let byName = Dictionary(maker.finetuned.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let modules = PEFTExportModules(maker: maker, plan: plan, finetunedByName: byName)
        if let (tensor, reason) = modules.refused {
            throw PEFTExportError.notExpressible(path: maker.finetuned.path, tensor: tensor, reason: reason, keep: modules.workingSelection)
        }
        let method: PEFTAdapterConfig.Method = modules.biases.isEmpty ? .lnTuning : .beft
        guard !modules.layerNorms.isEmpty || !modules.biases.isEmpty else {
            throw PEFTExportError.noAdaptableChange(path: maker.finetuned.path)
        }
        tensors = []
        config = PEFTAdapterConfig(method: method, baseModelNameOrPath: PEFTExport.baseModelName(path: maker.base.path),
                                   taskType: nil, targetModules: [], modulesToSave: nil)
        try collect(modules, method: method)
        tensors.sort { $0.key < $1.key }
        let headModules = modules.heads.sorted()
        let layerNorms = modules.layerNorms.sorted().map(PEFTExport.peftName)
        let biasModules = modules.biases.keys.sorted().map(PEFTExport.peftName)
        let saved = (method == .beft ? layerNorms : []) + headModules
        config.taskType = PEFTExport.taskType(finetuned: maker.finetuned.path, heads: headModules)
        config.targetModules = method == .beft ? biasModules : layerNorms
        config.modulesToSave = saved.isEmpty ? nil : saved
    }

    /// Fills ``tensors``: whole LayerNorm and head modules, and BEFT deltas.
    mutating func collect(_ modules: PEFTExportModules, method: PEFTAdapterConfig.Method) throws {
        for info in finetuned.tensors {
            let module = PEFTExport.module(of: info.name), parameter = info.name.split(separator: ".").last!
            if modules.layerNorms.contains(module) {
                let layer = PEFTExport.peftName(module) + (method == .lnTuning ? ".ln_tuning_layers" : "")
                tensors.append(Tensor(key: "base_model.model.\(layer).\(parameter)", source: try source(of: info), dtype: info.dtype, shape: info.shape))
            } else if case let name = PEFTExport.peftName(info.name), modules.heads.contains(where: { name.hasPrefix($0 + ".") }) {
                tensors.append(Tensor(key: "base_model.model.\(name)", source: try source(of: info), dtype: info.dtype, shape: info.shape))
            }
        }
        var worst = PEFTBiasDelta.Accuracy()
        for (module, pair) in modules.biases {
            let b = try TensorDecoder.floats(of: pair.base, in: base), f = try TensorDecoder.floats(of: pair.finetuned, in: finetuned)
            guard b.allSatisfy(\.isFinite), f.allSatisfy(\.isFinite) else {
                throw PEFTExportError.notExpressible(path: finetuned.path, tensor: pair.finetuned.name,
                                                     reason: "non-finite values (NaN or inf); an additive BEFT delta cannot carry them", keep: nil)
            }
            let (deltas, accuracy) = PEFTBiasDelta.deltas(base: b, finetuned: f)
            worst.merge(accuracy)
            tensors.append(Tensor(key: "base_model.model.\(PEFTExport.peftName(module)).beft_bias", source: .delta(deltas), dtype: .f32, shape: [1, deltas.count]))
        }
        if method == .beft { biasAccuracy = worst }
    }

    /// Where a parameter of an exported module comes from: the fine-tune's tensor when the plan
    /// keeps its whole change, the base's when the plan leaves it alone; anything in between (a mask
    /// or a resize keeping part of a change) is refused, as PEFT modules hold whole tensors.
    func source(of info: TensorInfo) throws -> Source {
        if let planned = plannedByFinetuned[info.name] {
            switch planned.source {
            case .pair(_, .all) where planned.record.storage != .converted, .whole, .new: return .finetuned(info)
            default:
                throw PEFTExportError.notExpressible(path: finetuned.path, tensor: info.name,
                                                     reason: "the selection keeps only part of its change (or a dtype conversion); PEFT modules hold whole tensors", keep: nil)
            }
        }
        guard let pair = pairsByFinetuned[info.name], pair.problem == nil, pair.shapeChange == nil, pair.isDirect,
              pair.base.dtype == pair.finetuned.dtype else {
            throw PEFTExportError.notExpressible(path: finetuned.path, tensor: info.name,
                                                 reason: "part of an exported module but not in the selection, and the base has no tensor of the same shape and dtype to keep instead", keep: nil)
        }
        return .base(pair.base)
    }

    /// The fine-tune's name of a planned tensor, its role, and whether the fine-tune changed it.
    static func describe(_ tensor: PlannedTensor) -> (String, ParameterRole, Bool) {
        switch tensor.source {
        case let .pair(pair, _):
            return (pair.finetuned.name, pair.role, tensor.changed > 0 || tensor.record.storage == .converted)
        case let .whole(pair), let .resized(pair, _, _):
            return (pair.finetuned.name, pair.role, true)
        case let .new(info):
            return (info.name, ParameterNames.role(of: info.name, dtype: info.dtype), true)
        }
    }

    /// Why a changed tensor cannot go into the adapter.
    static func reason(for tensor: PlannedTensor, role: ParameterRole) -> String {
        if tensor.record.storage == .converted { return "stored in another dtype than the base's (PEFT loads the adapter onto the base as it is; save the fine-tune in the base's dtype)" }
        switch tensor.source {
        case .resized: return "its shape changed (tokens added); PEFT loads onto the base's shapes, so a resized embedding is not exported (ckpt's own patch format carries it)"
        case .new: return "only the fine-tune has it and it is not part of the task head"
        default: break
        }
        return "\(role.kind == .embedding ? "an" : "a") \(role.kind.rawValue) tensor changed; LN_TUNING carries only LayerNorm modules, BEFT only Linear biases (plus whole LayerNorms), modules_to_save only the task head"
    }

    /// Why a tensor's name or layout is not a PyTorch module parameter PEFT can address (TensorFlow
    /// names, legacy `gamma`/`beta`, a transposed kernel), or nil.
    static func namingProblem(_ name: String, tensor: PlannedTensor) -> String? {
        if name.contains("/") || name.contains(":") { return "TensorFlow names; PEFT addresses PyTorch module names" }
        if case let .pair(pair, _) = tensor.source {
            if !pair.isDirect { return "stored transposed (a TensorFlow kernel); PEFT needs PyTorch's layout" }
            if pair.role.kind.isLayerNorm, !(name.hasSuffix(".weight") || name.hasSuffix(".bias")) {
                return "a LayerNorm parameter not named weight/bias (legacy gamma/beta); PEFT's LayerNorm copy would not load it"
            }
        }
        return nil
    }

    /// The module that owns a parameter: its name without the last component.
    static func module(of name: String) -> String {
        guard let dot = name.lastIndex(of: ".") else { return name }
        return String(name[..<dot])
    }

    /// The first component of a name (a head's top-level module).
    static func topModule(of name: String) -> String {
        String(name.split(separator: ".").first ?? Substring(name))
    }

    /// A name as PEFT sees it on the unwrapped model: training wrappers (`module.`, `_orig_mod.`) removed.
    static func peftName(_ name: String) -> String {
        TrainingWrappers.strip(name)?.name ?? name
    }
}
