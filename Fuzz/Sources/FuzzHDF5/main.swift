import CheckpointKit
import FuzzCommon

/// Arbitrary bytes as an `.h5` file: our code around libhdf5 (the guarded file driver, the
/// rehearsal in a child process, layout detection, attribute reading, type mapping, dataset reads)
/// must turn every failure into a typed error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHDF5(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    // Each file's structure is read first in a child process (HDF5Rehearsal); a child that loops
    // must be stopped before libFuzzer's own 10 s timeout counts the input as a hang.
    HDF5Rehearsal.timeLimitSeconds = 5
    let path = FuzzInput.write(start, count, name: "model.h5")
    do {
        FuzzInput.exercise(try CheckpointOpener.open(path))
    } catch {
        FuzzInput.requireTyped(error)
    }
    return 0
}
