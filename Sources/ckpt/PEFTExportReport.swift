import ArgumentParser
import CheckpointKit

/// What `ckpt patch --format` writes.
enum PatchOutputFormat: String, ExpressibleByArgument, CaseIterable {
    case ckpt, peft
}

/// The report of `ckpt patch --format peft`: the directory, the adapter file's size and tensor
/// count, the `adapter_config.json` written (`config`), the kept and dropped shares, and for BEFT
/// the largest distance of a merged bias from the fine-tune's, in F32 ULP of the fine-tune's value
/// (`bias_delta_max_ulp`) and absolute (`bias_delta_max_abs_error`).
struct PEFTExportReport: Encodable {
    var adapter: String
    var written: PEFTExport.Written
    var config: PEFTAdapterConfig
    var shares: PatchShares
    var biasAccuracy: PEFTBiasDelta.Accuracy?

    enum CodingKeys: String, CodingKey {
        case adapter, config, shares, tensors
        case adapterBytes = "adapter_bytes", biasDeltaMaxULP = "bias_delta_max_ulp"
        case biasDeltaMaxAbsoluteError = "bias_delta_max_abs_error"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(adapter, forKey: .adapter)
        try c.encode(written.adapterBytes, forKey: .adapterBytes)
        try c.encode(written.tensorCount, forKey: .tensors)
        try c.encode(config, forKey: .config)
        try c.encode(shares, forKey: .shares)
        try c.encodeIfPresent(biasAccuracy?.maxULP, forKey: .biasDeltaMaxULP)
        try c.encodeIfPresent(biasAccuracy?.maxAbsoluteError, forKey: .biasDeltaMaxAbsoluteError)
    }

    var text: String {
        """
        wrote PEFT \(config.peftType) adapter \(adapter): \(written.tensorCount) tensors, \(written.adapterBytes) bytes
          task_type: \(config.taskType ?? "none"); modules_to_save: \((config.modulesToSave ?? []).joined(separator: ", "))
          target_modules: \(config.targetModules.count) \(targets)
        """
    }

    /// What the target modules are, and how exact the adapter is.
    var targets: String {
        guard let accuracy = biasAccuracy else { return "LayerNorm modules (exact copies)" }
        return "Linear layers (bias deltas; merged biases within \(accuracy.maxAbsoluteError) absolute, \(accuracy.maxULP) F32 ULP, of the fine-tune's)"
    }
}
