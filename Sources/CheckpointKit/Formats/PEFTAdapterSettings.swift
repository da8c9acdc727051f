/// The fields of a PEFT `adapter_config.json` that decide what an adapter does to its base's
/// weights (peft 0.21: `LoraConfig`, `LNTuningConfig`, `BeftConfig`). Read strictly: a setting that
/// would make the merged weights differ from W + scaling·B·A (DoRA, an initialisation that rewrites
/// the base, a LoRA variant) is refused, never ignored. Fields ckpt does not need are not read.
public struct PEFTAdapterSettings: Sendable, Equatable {
    /// The adapter methods ckpt can merge onto a base.
    public enum Method: String, Sendable {
        /// Low-rank matrices: W + scaling · B A (peft `tuners/lora`).
        case lora = "LORA"
        /// Whole copies of LayerNorm modules (peft `tuners/ln_tuning`).
        case lnTuning = "LN_TUNING"
        /// Additive bias vectors of `Linear` layers (peft `tuners/beft`).
        case beft = "BEFT"
    }

    /// The largest config read, in bytes (peft writes about 1 KB).
    public static let maxConfigBytes = 1 << 20
    /// The longest `rank_pattern` / `alpha_pattern` key, in bytes.
    public static let maxPatternKeyBytes = 512

    public var method: Method
    /// LoRA rank `r` of modules no `rank_pattern` key matches.
    public var rank: Int
    /// LoRA `lora_alpha` of modules no `alpha_pattern` key matches.
    public var alpha: Double
    /// Rank-stabilised scaling: `lora_alpha / sqrt(r)` instead of `lora_alpha / r`.
    public var useRSLoRA: Bool
    /// `fan_in_fan_out`: the targets store their weight as (in, out), as GPT-2's `Conv1D` does, so
    /// the change is (B A) transposed.
    public var fanInFanOut: Bool
    /// Per-module ranks, in the file's order (peft takes the first key that matches).
    public var rankPattern: [PatternEntry]
    /// Per-module alphas, in the file's order.
    public var alphaPattern: [PatternEntry]
    /// `target_modules`, for the summary: the list, or the one regular expression.
    public var targetModules: [String]
    public var modulesToSave: [String]
    public var taskType: String?
    public var baseModel: String?

    /// One `rank_pattern` or `alpha_pattern` entry.
    public struct PatternEntry: Sendable, Equatable {
        public var key: String
        public var value: Double
    }

    /// Reads `path` (an `adapter_config.json`).
    public static func read(path: String) throws -> PEFTAdapterSettings {
        let bytes = try MappedFile.contents(of: path, maxBytes: maxConfigBytes)
        return try bytes.withUnsafeBytes { raw in try PEFTAdapterSettings(parsing: raw, path: path) }
    }

    /// Parses the bytes of an `adapter_config.json` read from `path`.
    public init(parsing bytes: UnsafeRawBufferPointer, path: String) throws(PEFTAdapterError) {
        guard bytes.count <= Self.maxConfigBytes else { throw .invalidConfig(path: path, reason: "larger than 1 MiB") }
        let root: JSONValue
        do {
            root = try JSONValue.parse(bytes, maxDepth: 16, maxArrayCount: 1 << 16)
        } catch {
            throw .invalidConfig(path: path, reason: "\(error)")
        }
        let fields = PEFTConfigFields(root: root, path: path)
        guard case .object = root else { throw .invalidConfig(path: path, reason: "not a JSON object") }
        let type = try fields.string("peft_type") ?? ""
        guard let method = Method(rawValue: type) else {
            if type.isEmpty { throw PEFTAdapterError.invalidConfig(path: path, reason: "no \"peft_type\"") }
            throw PEFTAdapterError.unsupportedMethod(path: path, peftType: type)
        }
        self.method = method
        rank = try fields.integer("r") ?? 8
        alpha = try fields.number("lora_alpha") ?? 8
        useRSLoRA = try fields.bool("use_rslora") ?? false
        fanInFanOut = try fields.bool("fan_in_fan_out") ?? false
        rankPattern = try fields.pattern("rank_pattern", integers: true)
        alphaPattern = try fields.pattern("alpha_pattern", integers: false)
        targetModules = try fields.stringList("target_modules")
        modulesToSave = try fields.stringList("modules_to_save")
        taskType = try fields.string("task_type")
        baseModel = try fields.string("base_model_name_or_path")
        if method == .lora {
            guard rank > 0 else { throw .invalidConfig(path: path, reason: "\"r\" must be positive, not \(rank)") }
            try fields.refuseLoRAVariants()
        }
    }

    /// `lora_alpha / r`, or `lora_alpha / sqrt(r)` with rsLoRA (peft `LoraLayer.update_layer`).
    public func scaling(rank r: Int, alpha: Double) -> Double {
        useRSLoRA ? alpha / Double(r).squareRoot() : alpha / Double(r)
    }
}
