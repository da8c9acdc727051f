/// The seam between format detection and the HDF5 reader.
enum HDF5Probe {
    static func isHDF5(path: String) throws -> Bool { HDF5File.isHDF5(path: path) }
    static func open(_ path: String) throws -> any Checkpoint { try HDF5File(path: path) }
}
