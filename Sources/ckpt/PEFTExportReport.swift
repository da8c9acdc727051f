import ArgumentParser
import CheckpointKit

/// What `ckpt patch --format` writes.
enum PatchOutputFormat: String, ExpressibleByArgument, CaseIterable {
    case ckpt, peft
}

/// The report of `ckpt patch --format peft`.
struct PEFTExportReport: Encodable {
    var adapter: String
    var adapterBytes: Int
    var tensors: Int
    var peftType: String
    var taskType: String?
    var targetModules: [String]
    var modulesToSave: [String]?
    var shares: PatchShares

    init(adapter: String, written: PEFTExport.Written, config: PEFTAdapterConfig, shares: PatchShares) {
        self.adapter = adapter
        adapterBytes = written.adapterBytes
        tensors = written.tensorCount
        peftType = config.peftType
        taskType = config.taskType
        targetModules = config.targetModules
        modulesToSave = config.modulesToSave
        self.shares = shares
    }

    enum CodingKeys: String, CodingKey {
        case adapter, tensors, shares
        case adapterBytes = "adapter_bytes", peftType = "peft_type", taskType = "task_type"
        case targetModules = "target_modules", modulesToSave = "modules_to_save"
    }

    var text: String {
        """
        wrote PEFT \(peftType) adapter \(adapter): \(tensors) tensors, \(adapterBytes) bytes
          task_type: \(taskType ?? "none"); modules_to_save: \((modulesToSave ?? []).joined(separator: ", "))
          target_modules: \(targetModules.count) LayerNorm modules
        """
    }
}
