import ArgumentParser
import CheckpointKit

/// What `ckpt patch --format` writes.
enum PatchOutputFormat: String, ExpressibleByArgument, CaseIterable {
    case ckpt, peft
}

/// The report of `ckpt patch --format peft`: the directory, the adapter file's size and tensor
/// count, the `adapter_config.json` written (`config`), and the kept and dropped shares.
struct PEFTExportReport: Encodable {
    var adapter: String
    var written: PEFTExport.Written
    var config: PEFTAdapterConfig
    var shares: PatchShares

    enum CodingKeys: String, CodingKey {
        case adapter, config, shares, tensors
        case adapterBytes = "adapter_bytes"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(adapter, forKey: .adapter)
        try c.encode(written.adapterBytes, forKey: .adapterBytes)
        try c.encode(written.tensorCount, forKey: .tensors)
        try c.encode(config, forKey: .config)
        try c.encode(shares, forKey: .shares)
    }

    var text: String {
        """
        wrote PEFT \(config.peftType) adapter \(adapter): \(written.tensorCount) tensors, \(written.adapterBytes) bytes
          task_type: \(config.taskType ?? "none"); modules_to_save: \((config.modulesToSave ?? []).joined(separator: ", "))
          target_modules: \(config.targetModules.count) LayerNorm modules
        """
    }
}
