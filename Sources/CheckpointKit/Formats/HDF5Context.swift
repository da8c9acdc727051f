/// The file and object a libhdf5 call concerns, for error messages.
struct HDF5Context: Sendable {
    /// The HDF5 file's path.
    var path: String
    /// The group, dataset or attribute path inside the file ("" for the file itself).
    var object: String = ""

    func at(_ object: String) -> HDF5Context { HDF5Context(path: path, object: object) }

    /// The error for a failed call: `function` is the libhdf5 function, `doing` what it was for.
    func failure(_ function: String, _ doing: String) -> CheckpointError {
        let messages = HDF5ErrorStack.takeMessages()
        let detail = messages.first ?? "no detail from libhdf5"
        return .hdf5(path: path, object: object, operation: "\(doing) (\(function): \(detail))")
    }
}
