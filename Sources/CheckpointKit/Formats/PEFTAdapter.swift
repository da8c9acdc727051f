import Foundation

/// A PEFT adapter directory (`adapter_config.json` + `adapter_model.safetensors` or
/// `adapter_model.bin`, as `PeftModel.save_pretrained` writes it), read on its own: the adapter's
/// own tensors, and its settings as metadata (`peft_type`, `r`, `lora_alpha`, targets, task type,
/// base model), so that `ckpt inspect ADAPTER_DIR` says what it holds. Merged onto a base it reads
/// as a fine-tune (``PEFTImport``).
public final class PEFTAdapter: Checkpoint, @unchecked Sendable {
    /// The config file that marks a directory as a PEFT adapter.
    public static let configName = "adapter_config.json"
    /// The weight files looked for, most preferred first.
    public static let weightNames = ["adapter_model.safetensors", "adapter_model.bin"]

    /// The directory.
    public let path: String
    public let settings: PEFTAdapterSettings
    /// The adapter's weight file.
    public let weights: any Checkpoint
    public let configPath: String

    public var format: CheckpointFormat { .peftAdapter }
    public var tensors: [TensorInfo] { weights.tensors }
    public var fileSize: Int { weights.fileSize }
    public var files: [String] { [configPath] + weights.files }
    public var bytesAreFileMapped: Bool { weights.bytesAreFileMapped }
    public var skipped: [SkippedObject] { weights.skipped }
    public func storedLocation(of tensor: TensorInfo) -> StoredLocation? { weights.storedLocation(of: tensor) }
    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try weights.withBytes(of: tensor, body)
    }

    /// Whether `path` is a directory holding an `adapter_config.json`.
    public static func isAdapterDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        let directory = path.hasSuffix("/") ? path : path + "/"
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            && FileManager.default.fileExists(atPath: directory + configName)
    }

    /// Opens the adapter directory `path`; `openWeights` opens its weight file.
    init(path: String, openWeights: (String) throws -> any Checkpoint) throws {
        self.path = path
        let directory = path.hasSuffix("/") ? path : path + "/"
        configPath = directory + Self.configName
        settings = try PEFTAdapterSettings.read(path: configPath)
        guard let file = Self.weightNames.map({ directory + $0 }).first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw PEFTAdapterError.missingWeights(path: path)
        }
        weights = try openWeights(file)
    }

    /// The adapter's settings as `ckpt inspect` shows them, beside the weight file's own metadata.
    public var metadata: [String: String] {
        var m = weights.metadata
        let s = settings
        m["peft_type"] = s.method.rawValue
        m["target_modules"] = s.targetModules.joined(separator: ",")
        if !s.modulesToSave.isEmpty { m["modules_to_save"] = s.modulesToSave.joined(separator: ",") }
        if let task = s.taskType { m["task_type"] = task }
        if let base = s.baseModel { m["base_model_name_or_path"] = base }
        if s.method == .lora {
            m["r"] = String(s.rank)
            m["lora_alpha"] = s.alpha.compactDescription
            m["use_rslora"] = String(s.useRSLoRA)
            let patterns = { (p: [PEFTAdapterSettings.PatternEntry]) in p.map { "\($0.key)=\($0.value.compactDescription)" }.joined(separator: ",") }
            if !s.rankPattern.isEmpty { m["rank_pattern"] = patterns(s.rankPattern) }
            if !s.alphaPattern.isEmpty { m["alpha_pattern"] = patterns(s.alphaPattern) }
        }
        return m
    }
}
