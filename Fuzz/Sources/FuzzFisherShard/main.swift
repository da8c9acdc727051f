import CheckpointKit
import FuzzCommon

/// Arbitrary bytes as a Fisher shard file (`ckpt fisher --shard`): read, merged alone (as shard 1/1,
/// or refused as incomplete) and the merged Fisher written.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFisherShard(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = FuzzInput.write(start, count, name: "part.safetensors")
    do {
        let part = try FisherShardFile.read(path: path)
        let merged = try FisherMerge.merge([part], paths: [path])
        try FisherFile.write(merged, to: FuzzInput.scratchPath("fisher.safetensors"))
    } catch {
        FuzzInput.requireTyped(error)
    }
    return 0
}
