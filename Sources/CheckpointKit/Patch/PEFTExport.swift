import Foundation

/// A fine-tune as a PEFT `LN_TUNING` adapter (`ckpt patch --format peft`): the LayerNorm modules it
/// changed, copied whole (PEFT's `LNTuningLayer` keeps a full copy of each targeted module), plus its
/// task head as `modules_to_save`. Bias-only (BEFT) adapters and reading adapters are not done.
///
/// Key names follow peft's `get_peft_model_state_dict` (peft 0.21): `base_model.model.<module>.
/// ln_tuning_layers.weight` / `.bias` and `base_model.model.<head module>.<parameter>`, the adapter
/// name stripped. Module names are the fine-tune's (the model PEFT wraps is the task model).
public struct PEFTExport {
    /// The `adapter_config.json` fields peft reads.
    public var config: PEFTAdapterConfig
    /// The adapter's tensors in the order written (sorted by key, as `safetensors.torch.save_file`).
    public var tensors: [(key: String, source: TensorInfo)]
    let finetuned: any Checkpoint
    let plan: PatchPlan

    /// Decides what the adapter holds from `plan` (made by `maker`), or refuses a change that
    /// LN_TUNING + modules_to_save cannot carry exactly.
    public init(maker: PatchMaker, plan: PatchPlan) throws {
        finetuned = maker.finetuned
        self.plan = plan
        var layerNorms = Set<String>(), heads = Set<String>()
        for tensor in plan.tensors {
            let (name, role, changed) = PEFTExport.describe(tensor)
            guard changed else { continue }
            if let problem = PEFTExport.namingProblem(name, tensor: tensor) {
                throw PEFTExportError.notExpressible(path: maker.finetuned.path, tensor: name, reason: problem)
            }
            if role.kind.isLayerNorm, case .pair = tensor.source, tensor.record.storage != .converted {
                layerNorms.insert(PEFTExport.module(of: name))
            } else if role.component == .head {
                heads.insert(String(name.split(separator: ".").first ?? Substring(name)))
            } else {
                throw PEFTExportError.notExpressible(path: maker.finetuned.path, tensor: name,
                                                     reason: PEFTExport.reason(for: tensor, role: role))
            }
        }
        guard !layerNorms.isEmpty else { throw PEFTExportError.noLayerNormChanged(path: maker.finetuned.path) }
        // The whole head, changed or not: for a task type peft wraps the head in modules_to_save
        // anyway and would then expect its weights in the adapter.
        for info in maker.finetuned.tensors where ParameterNames.role(of: info.name, dtype: info.dtype).component == .head {
            heads.insert(String(info.name.split(separator: ".").first ?? Substring(info.name)))
        }
        let targets = layerNorms.sorted(), headModules = heads.sorted()
        var tensors: [(key: String, source: TensorInfo)] = []
        for info in maker.finetuned.tensors {
            let module = PEFTExport.module(of: info.name)
            if layerNorms.contains(module) {
                tensors.append(("base_model.model.\(module).ln_tuning_layers.\(info.name.split(separator: ".").last!)", info))
            } else if headModules.contains(where: { info.name.hasPrefix($0 + ".") }) {
                tensors.append(("base_model.model.\(info.name)", info))
            }
        }
        self.tensors = tensors.sorted { $0.key < $1.key }
        config = PEFTAdapterConfig(
            baseModelNameOrPath: PEFTExport.baseModelName(path: maker.base.path),
            taskType: PEFTExport.taskType(finetuned: maker.finetuned.path, heads: headModules),
            targetModules: targets, modulesToSave: headModules.isEmpty ? nil : headModules)
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
        if tensor.record.storage == .converted { return "stored in another dtype than the base's (LN_TUNING copies the base's modules)" }
        switch tensor.source {
        case .resized: return "its shape changed (tokens added); LN_TUNING cannot resize"
        case .new: return "only the fine-tune has it and it is not part of the task head"
        default: break
        }
        let what = role.kind.isBias ? "a bias outside LayerNorm" : "a non-LayerNorm \(role.kind.rawValue) tensor"
        return "\(what) changed; LN_TUNING carries only LayerNorm modules and modules_to_save only the task head"
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

    /// The directory a model was loaded from: `path` itself, or the directory of a weights file.
    static func modelDirectory(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return path }
        let parent = (path as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }

    /// The model's `config.json`, parsed, or nil.
    static func modelConfig(_ path: String) -> JSONValue? {
        let file = modelDirectory(path) + "/config.json"
        guard FileManager.default.fileExists(atPath: file),
              let data = try? MappedFile.contents(of: file, maxBytes: 1 << 20) else { return nil }
        return try? JSONValue.parse(data)
    }

    /// `base_model_name_or_path`: the base's directory as given, which is what peft records (the
    /// `name_or_path` the base was loaded from). A config's `_name_or_path` is not used: it often
    /// names the model the base was itself trained from (all-MiniLM-L6-v2's says
    /// `nreimers/MiniLM-L6-H384-uncased`).
    static func baseModelName(path: String) -> String {
        modelDirectory(path)
    }

    /// peft's `task_type` from the fine-tune's `architectures` (config.json), else from its head's name.
    static func taskType(finetuned: String, heads: [String]) -> String? {
        let architectures = modelConfig(finetuned)?["architectures"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let table = [("ForSequenceClassification", "SEQ_CLS"), ("ForTokenClassification", "TOKEN_CLS"),
                     ("ForQuestionAnswering", "QUESTION_ANS"), ("ForCausalLM", "CAUSAL_LM")]
        for architecture in architectures {
            if let match = table.first(where: { architecture.hasSuffix($0.0) }) { return match.1 }
        }
        if heads.contains("classifier") || heads.contains("score") { return "SEQ_CLS" }
        if heads.contains("qa_outputs") { return "QUESTION_ANS" }
        return heads.isEmpty ? "FEATURE_EXTRACTION" : nil
    }
}
