import CheckpointKit
import FuzzCommon

/// Arbitrary bytes as a `.safetensors` file: header length, JSON, offsets, dtypes, data.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = FuzzInput.write(start, count, name: "model.safetensors")
    do {
        FuzzInput.exercise(try CheckpointOpener.open(path))
    } catch {
        FuzzInput.requireTyped(error)
    }
    return 0
}
