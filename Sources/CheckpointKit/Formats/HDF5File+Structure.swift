/// Reading a file's structure through libhdf5: what ``HDF5Rehearsal`` has the helper process do
/// first, and the caller then repeats in process.
extension HDF5File {
    /// What libhdf5 shows of a file before ckpt orders, renames or maps anything.
    struct Structure {
        var walk: Walk
        var format: CheckpointFormat
        /// The dataset names in the layout's order (tf_model.h5, Keras 2), else empty.
        var layout: [String]
    }

    /// Walks `file`, finds its layout and checks the bytes its datasets declare, holding libhdf5's
    /// lock throughout. Why one section: the lock then switches libhdf5's error printing off once
    /// per file rather than once per call (about 10 calls a dataset), and a second file being
    /// opened on another thread (`diff A B` opens both at once) waits for the whole walk instead of
    /// taking turns with this one call by call.
    static func readStructure(of file: borrowing HDF5Handle, path: String, fileSize: Int) throws(CheckpointError) -> Structure {
        try HDF5Library.locked { () throws(CheckpointError) -> Structure in
            let context = HDF5Context(path: path)
            var walk = Walk()
            var visited = Set<UInt64>()
            try HDF5File.walk(file, prefix: "", depth: 0, visited: &visited, into: &walk, context)
            let (format, layout) = try HDF5File.layout(of: file, walk: walk, context)
            try checkDeclaredBytes(of: walk.datasets, path: path, fileSize: fileSize)
            return Structure(walk: walk, format: format, layout: layout)
        }
    }

    /// Refuses a file whose datasets declare more bytes than any compression of `fileSize` bytes
    /// could hold (``maxDeclaredBytesPerFileByte``), before any read buffer is allocated.
    static func checkDeclaredBytes(of datasets: [Entry], path: String, fileSize: Int) throws(CheckpointError) {
        let limit = fileSize.multipliedReportingOverflow(by: maxDeclaredBytesPerFileByte)
        let allowed = limit.overflow ? Int.max : limit.partialValue + declaredBytesAllowance
        var declared = 0
        for entry in datasets {
            let (sum, overflow) = declared.addingReportingOverflow(entry.info.byteCount)
            guard !overflow, sum <= allowed else {
                throw .invalidTensor(path: path, tensor: entry.info.name, reason: "the datasets declare more than \(allowed) bytes, over \(maxDeclaredBytesPerFileByte) times the \(fileSize)-byte file (no compression reaches that)")
            }
            declared = sum
        }
    }

    /// The helper process's work (see ``HDF5Rehearsal``): every libhdf5 call that opening the file
    /// in process makes, in the same order (open, walk, layout, the range check of contiguous
    /// datasets, the root's metadata), then a read of each chunked or compact dataset. The
    /// ordering, Keras 3 naming and fusing that ``init(path:)`` adds call no libhdf5 function, so
    /// the helper skips them (about 5 ms of a 391-variable Keras 3 file). Last, what it found
    /// goes back to the caller (``HDF5RehearsalReport``), which then need not walk the file again.
    static func rehearse(_ path: String, fileSize: Int) throws {
        let file = try HDF5.openFile(path, writable: false)
        let structure = try readStructure(of: file, path: path, fileSize: fileSize)
        _ = try mapContiguous(structure.walk.datasets, path: path)
        let metadata = try readMetadata(of: file, format: structure.format, HDF5Context(path: path))
        let buffers = BufferPool()
        for entry in structure.walk.datasets where entry.storage != .contiguous {
            try buffers.withBuffer(byteCount: entry.info.byteCount) { buffer in
                try read(entry, from: file, path: path, into: buffer)
            }
        }
        HDF5Rehearsal.writeReport(HDF5RehearsalReport.encode(structure, metadata: metadata))
    }

    /// The structure and root metadata from the helper's report when there is a well-formed one,
    /// else from libhdf5 in process. A report's declared bytes are checked as the walk's are.
    static func structure(of file: borrowing HDF5Handle, report: [UInt8]?, path: String, fileSize: Int) throws(CheckpointError) -> (Structure, metadata: [String: String]?) {
        if let decoded = report?.withUnsafeBytes({ HDF5RehearsalReport.decode($0) }) {
            try checkDeclaredBytes(of: decoded.structure.walk.datasets, path: path, fileSize: fileSize)
            return (decoded.structure, decoded.metadata)
        }
        return (try readStructure(of: file, path: path, fileSize: fileSize), nil)
    }

    /// Reads one dataset through libhdf5 into `buffer` (exactly its bytes), after checking that a
    /// chunked one's filters are available.
    static func read(_ entry: Entry, from file: borrowing HDF5Handle, path: String, into buffer: UnsafeMutableRawBufferPointer) throws(CheckpointError) {
        let context = HDF5Context(path: path, object: entry.datasetPath)
        try HDF5Library.locked { () throws(CheckpointError) in
            let dataset = try HDF5.openDataset(entry.datasetPath, in: file, context)
            // Only chunked datasets can be filtered (HDF5 allows no filter on contiguous or compact storage).
            if entry.storage == .chunked, let filter = try HDF5.unavailableFilter(of: dataset, context) {
                throw .unavailableFilter(path: path, dataset: entry.info.name, filter: filter.id, name: filter.name)
            }
            try HDF5.read(dataset, as: entry.memoryType, into: buffer, context)
        }
    }
}
