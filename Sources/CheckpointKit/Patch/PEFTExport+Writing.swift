import Foundation
import Glibc

extension PEFTExport {
    /// What ``write(to:base:finetuned:)`` wrote.
    public struct Written: Sendable {
        /// Size of `adapter_model.safetensors`, in bytes.
        public var adapterBytes: Int
        public var tensorCount: Int
    }

    /// ckpt's own record next to the adapter (`ckpt.json`): the patch metadata (fingerprints of the
    /// base and of every result tensor, the selection) and how much of the change was kept (lossiness);
    /// peft rejects unknown fields in `adapter_config.json`, so none of this goes there.
    struct Record: Encodable {
        var format = "ckpt-peft-export"
        var version = 1
        var base: String
        var finetuned: String
        var metadata: [String: String]
        var shares: PatchShares
        var notes: [String]
        /// BEFT only: see ``PEFTExport/biasAccuracy``.
        var biasDeltaMaxULP: Int?
        var biasDeltaMaxAbsoluteError: Double?

        enum CodingKeys: String, CodingKey {
            case format, version, base, finetuned, metadata, shares, notes
            case biasDeltaMaxULP = "bias_delta_max_ulp", biasDeltaMaxAbsoluteError = "bias_delta_max_abs_error"
        }
    }

    /// Writes the adapter directory: `adapter_model.safetensors` (through ``SafetensorsWriter``, bytes
    /// from the fine-tune, the base or the computed deltas), `adapter_config.json` and `ckpt.json`. All three go into a fresh
    /// temporary directory next to `directory`, which is renamed into place once complete, so a
    /// failure leaves nothing. An existing `directory` must be empty.
    public func write(to directory: String, base: String, finetuned finetunedPath: String) throws -> Written {
        let staging = try PEFTExport.makeStaging(for: directory)
        var published = false
        defer { if !published { try? FileManager.default.removeItem(atPath: staging) } }
        let written = try SafetensorsWriter(metadata: ["format": "pt"], entries: tensors.map(entry))
            .write(to: staging + "/adapter_model.safetensors")
        try PEFTExport.writeJSON(try JSONOutput.report(config), to: staging + "/adapter_config.json")
        let record = Record(base: base, finetuned: finetunedPath, metadata: plan.metadata.encoded(),
                            shares: plan.shares, notes: plan.notes, biasDeltaMaxULP: biasAccuracy?.maxULP,
                            biasDeltaMaxAbsoluteError: biasAccuracy?.maxAbsoluteError)
        try PEFTExport.writeJSON(try JSONOutput.report(record), to: staging + "/ckpt.json")
        if FileManager.default.fileExists(atPath: directory) { rmdir(directory) }
        guard rename(staging, directory) == 0 else {
            throw PEFTExportError.writeFailed(path: directory, reason: String(cString: strerror(errno)))
        }
        published = true
        return Written(adapterBytes: written.bytes, tensorCount: tensors.count)
    }

    /// The writer's entry for one adapter tensor: copied file to file from the fine-tune or the
    /// base where they are stored plainly, deltas from memory.
    func entry(_ tensor: Tensor) -> SafetensorsWriter.Entry {
        switch tensor.source {
        case let .finetuned(info), let .base(info):
            let checkpoint: any Checkpoint = { if case .base = tensor.source { return base } else { return finetuned } }()
            return SafetensorsWriter.Entry(name: tensor.key, dtype: info.dtype, shape: info.shape, location: checkpoint.storedLocation(of: info)) { consume in
                try checkpoint.withBytes(of: info) { try consume($0) }
            }
        case let .delta(values):
            return SafetensorsWriter.Entry(name: tensor.key, dtype: .f32, shape: tensor.shape) { consume in
                try values.withUnsafeBytes { try consume($0) }
            }
        }
    }

    /// A new empty directory beside `directory` (same file system, so the final rename is atomic),
    /// after checking that `directory` is absent or empty.
    static func makeStaging(for directory: String) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            let contents = isDirectory.boolValue ? (try? FileManager.default.contentsOfDirectory(atPath: directory)) : nil
            guard contents?.isEmpty == true else { throw PEFTExportError.directoryNotEmpty(path: directory) }
        }
        let trimmed = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        let parent = (trimmed as NSString).deletingLastPathComponent
        var template = Array(((parent.isEmpty ? "." : parent) + "/" + AtomicFile.temporaryPrefix + "peft-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw PEFTExportError.writeFailed(path: directory, reason: String(cString: strerror(errno)))
        }
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes JSON text (with a final newline) atomically.
    static func writeJSON(_ data: Data, to path: String) throws {
        try AtomicFile(destination: path).write({ sink in
            try sink.write([UInt8](data) + [UInt8(ascii: "\n")])
        })
    }
}
