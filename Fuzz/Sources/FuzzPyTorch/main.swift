import CheckpointKit
import FuzzCommon

/// Arbitrary bytes as a `pytorch_model.bin`: the zip directory (ZIP64 included), local headers,
/// the pickle in `data.pkl` and the tensor views it describes. Opened twice: as the whole file
/// and with a state dict key, as `--key model` would.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPyTorch(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = FuzzInput.write(start, count, name: "pytorch_model.bin")
    for options in [CheckpointOpener.Options(), CheckpointOpener.Options(key: "model")] {
        do {
            FuzzInput.exercise(try CheckpointOpener.open(path, options: options))
        } catch {
            FuzzInput.requireTyped(error)
        }
    }
    return 0
}
