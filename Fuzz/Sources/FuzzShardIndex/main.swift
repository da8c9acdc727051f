import CheckpointKit
import FuzzCommon

/// Arbitrary bytes as a `model.safetensors.index.json` beside one valid shard.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzShardIndex(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    FuzzShard.ensureShard()
    let path = FuzzInput.write(start, count, name: "model.safetensors.index.json")
    do {
        FuzzInput.exercise(try CheckpointOpener.open(path))
    } catch {
        FuzzInput.requireTyped(error)
    }
    return 0
}

enum FuzzShard {
    /// A valid two-tensor shard named `model-00001-of-00001.safetensors` for the index to point at.
    static func ensureShard() {
        let header = Array(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]}}"#.utf8)
        var bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) }
        bytes += header + [UInt8](repeating: 0x3F, count: 12)
        _ = bytes.withUnsafeBytes { FuzzInput.write($0.baseAddress!, $0.count, name: "model-00001-of-00001.safetensors") }
    }
}
