import CheckpointKit

/// Arbitrary bytes as the report of an HDF5 rehearsal helper (`HDF5RehearsalReport`). The caller
/// decodes what a helper could have written after a hostile file took libhdf5 over in it, so the
/// decoder must answer a report or nil, never trap, and never allocate what the input merely claims.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHDF5Report(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    _ = HDF5RehearsalReport.isWellFormed(Array(UnsafeRawBufferPointer(start: start, count: count)))
    return 0
}
