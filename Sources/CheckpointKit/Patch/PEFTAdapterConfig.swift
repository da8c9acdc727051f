/// The `adapter_config.json` of an `LN_TUNING` adapter: the fields peft 0.21's `LNTuningConfig`
/// writes, with the same names and the same nulls, so `PeftConfig.from_pretrained` reads it as its own.
public struct PEFTAdapterConfig: Encodable, Sendable, Equatable {
    public var baseModelNameOrPath: String
    /// `SEQ_CLS`, `TOKEN_CLS`, `QUESTION_ANS`, `CAUSAL_LM`, `FEATURE_EXTRACTION`, or nil.
    public var taskType: String?
    /// Exact module names of the LayerNorms the adapter replaces.
    public var targetModules: [String]
    /// Top-level module names of the task head, saved whole.
    public var modulesToSave: [String]?
    public var peftType = "LN_TUNING"

    enum CodingKeys: String, CodingKey {
        case autoMapping = "auto_mapping", baseModelNameOrPath = "base_model_name_or_path"
        case excludeModules = "exclude_modules", inferenceMode = "inference_mode"
        case modulesToSave = "modules_to_save", peftType = "peft_type", revision
        case targetModules = "target_modules", taskType = "task_type"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeNil(forKey: .autoMapping)
        try c.encode(baseModelNameOrPath, forKey: .baseModelNameOrPath)
        try c.encodeNil(forKey: .excludeModules)
        try c.encode(true, forKey: .inferenceMode)
        if let modulesToSave { try c.encode(modulesToSave, forKey: .modulesToSave) } else { try c.encodeNil(forKey: .modulesToSave) }
        try c.encode(peftType, forKey: .peftType)
        try c.encodeNil(forKey: .revision)
        try c.encode(targetModules, forKey: .targetModules)
        if let taskType { try c.encode(taskType, forKey: .taskType) } else { try c.encodeNil(forKey: .taskType) }
    }
}
