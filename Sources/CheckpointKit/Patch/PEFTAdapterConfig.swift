/// The `adapter_config.json` of an `LN_TUNING` or `BEFT` adapter: the fields peft 0.21.2's
/// `LNTuningConfig` / `BeftConfig` write, with the same names and the same nulls, so
/// `PeftConfig.from_pretrained` reads it as its own.
public struct PEFTAdapterConfig: Encodable, Sendable, Equatable {
    /// The PEFT method (`peft_type`).
    public enum Method: String, Sendable {
        /// LayerNorm modules replaced by full copies.
        case lnTuning = "LN_TUNING"
        /// An additive bias per `nn.Linear` (BitFit-style).
        case beft = "BEFT"
    }

    public var method: Method
    public var baseModelNameOrPath: String
    /// `SEQ_CLS`, `TOKEN_CLS`, `QUESTION_ANS`, `CAUSAL_LM`, `SEQ_2_SEQ_LM`, `FEATURE_EXTRACTION`, or nil.
    public var taskType: String?
    /// Exact module names: the LayerNorms (LN_TUNING) or Linear layers (BEFT) the adapter targets.
    public var targetModules: [String]
    /// Modules saved whole: the task head's top-level modules, and with BEFT the changed LayerNorms.
    public var modulesToSave: [String]?
    public var peftType: String { method.rawValue }

    enum CodingKeys: String, CodingKey {
        case autoMapping = "auto_mapping", baseModelNameOrPath = "base_model_name_or_path"
        case excludeModules = "exclude_modules", inferenceMode = "inference_mode", initWeights = "init_weights"
        case modulesToSave = "modules_to_save", peftType = "peft_type", revision
        case targetModules = "target_modules", taskType = "task_type"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeNil(forKey: .autoMapping)
        try c.encode(baseModelNameOrPath, forKey: .baseModelNameOrPath)
        if method == .lnTuning { try c.encodeNil(forKey: .excludeModules) }
        try c.encode(true, forKey: .inferenceMode)
        if method == .beft { try c.encode(true, forKey: .initWeights) }
        if let modulesToSave { try c.encode(modulesToSave, forKey: .modulesToSave) } else { try c.encodeNil(forKey: .modulesToSave) }
        try c.encode(peftType, forKey: .peftType)
        try c.encodeNil(forKey: .revision)
        try c.encode(targetModules, forKey: .targetModules)
        if let taskType { try c.encode(taskType, forKey: .taskType) } else { try c.encodeNil(forKey: .taskType) }
    }
}
