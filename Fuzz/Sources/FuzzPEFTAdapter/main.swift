import CheckpointKit
import FuzzCommon
import Foundation

/// Arbitrary bytes as the `adapter_config.json` of a PEFT adapter directory whose
/// `adapter_model.safetensors` holds one valid LoRA (A 2x4, B 4x2 on module `m`): the directory is
/// opened and read alone, then merged onto a base holding `m.weight` (4x4) and `m.bias` and read
/// tensor by tensor, as `ckpt diff BASE ADAPTER_DIR` would.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPEFTAdapter(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let (directory, base) = FuzzAdapter.ensureFiles()
    FileManager.default.createFile(atPath: directory + "/adapter_config.json", contents: Data(bytes: start, count: count))
    do {
        let adapter = try CheckpointOpener.open(directory)
        FuzzInput.exercise(adapter)
        FuzzInput.exercise(try PEFTImport.merged(adapter, onto: try CheckpointOpener.open(base)))
    } catch {
        FuzzInput.requireTyped(error)
    }
    return 0
}

enum FuzzAdapter {
    /// The adapter directory (weights written once) and the base file.
    static func ensureFiles() -> (directory: String, base: String) {
        let directory = FuzzInput.scratchPath("adapter")
        let base = FuzzInput.scratchPath("base.safetensors")
        guard !FileManager.default.fileExists(atPath: base) else { return (directory, base) }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        write(#"{"base_model.model.m.lora_A.weight":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]},"base_model.model.m.lora_B.weight":{"dtype":"F32","shape":[4,2],"data_offsets":[32,64]}}"#,
              data: 64, to: directory + "/adapter_model.safetensors")
        write(#"{"m.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]},"m.bias":{"dtype":"BF16","shape":[4],"data_offsets":[64,72]}}"#,
              data: 72, to: base)
        return (directory, base)
    }

    /// A safetensors file: `header`, then `data` bytes of 0x3F (F32 0.75-ish values).
    static func write(_ header: String, data: Int, to path: String) {
        let json = Array(header.utf8)
        var bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        bytes += json + [UInt8](repeating: 0x3F, count: data)
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }
}
