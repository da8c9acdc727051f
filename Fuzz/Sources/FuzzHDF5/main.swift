import CheckpointKit
import FuzzCommon

/// Arbitrary bytes as an `.h5` file: our code around libhdf5 (the guarded file driver, the
/// rehearsal in a helper process, layout detection, attribute reading, type mapping, dataset reads)
/// must turn every failure into a typed error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHDF5(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    // Every other input is walked again in this process rather than taken from the helper's
    // report, so that the walk runs where the fuzzer watches it (FuzzHDF5Report fuzzes the decoder).
    inputCount += 1
    HDF5Rehearsal.usesReports = inputCount % 2 == 0
    let path = FuzzInput.write(start, count, name: "model.h5")
    do {
        FuzzInput.exercise(try CheckpointOpener.open(path))
    } catch {
        FuzzInput.requireTyped(error)
    }
    return 0
}

/// Inputs run so far.
nonisolated(unsafe) var inputCount = 0

/// The first word of the command line that makes this binary the rehearsal helper.
let rehearsalCommand = "_rehearse-hdf5"

/// Each file's structure is read first in a helper process (HDF5Rehearsal): this same binary,
/// started afresh as `FuzzHDF5 _rehearse-hdf5 SECONDS FILE` (under the same sanitizers). libFuzzer
/// calls this before it reads its own flags, so the helper rehearses and exits here. The time
/// limit stops a helper that loops before libFuzzer's own 10 s timeout counts the input as a hang.
@_cdecl("LLVMFuzzerInitialize")
public func initializeFuzzHDF5(_ argc: UnsafeMutablePointer<CInt>,
                               _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let arguments = (0..<Int(argc.pointee)).map { argv.pointee?[$0].map { String(cString: $0) } ?? "" }
    if arguments.count == 4, arguments[1] == rehearsalCommand, let seconds = UInt32(arguments[2]) {
        HDF5Rehearsal.rehearseInThisProcess(path: arguments[3], timeLimitSeconds: seconds)
    }
    HDF5Rehearsal.helper = HDF5Rehearsal.Helper(executable: "/proc/self/exe", arguments: [rehearsalCommand])
    HDF5Rehearsal.timeLimitSeconds = 5
    return 0
}
