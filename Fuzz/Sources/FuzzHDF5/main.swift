import CheckpointKit
import FuzzCommon

/// Arbitrary bytes as an `.h5` file: our code around libhdf5 (layout detection, attribute
/// reading, type mapping, dataset reads) must turn every failure into a typed error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHDF5(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = FuzzInput.write(start, count, name: "model.h5")
    do {
        FuzzInput.exercise(try CheckpointOpener.open(path))
    } catch {
        FuzzInput.requireTyped(error)
    }
    return 0
}
