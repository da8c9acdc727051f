/// The seam between format detection and the HDF5 reader.
enum HDF5Probe {
    static func isHDF5(path: String) throws -> Bool { false }
    static func open(_ path: String) throws -> any Checkpoint {
        throw CheckpointError.unrecognizedFormat(path: path, reason: "HDF5 is not supported yet")
    }
}
