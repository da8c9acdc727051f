/// Writing a modified copy: the file copied byte for byte, then datasets overwritten through libhdf5.
extension HDF5File {
    /// Copies `source` byte for byte to `destination`, then overwrites the named datasets in the
    /// copy with new data through libhdf5 (chunking, compression and on-disk byte order are kept;
    /// a BF16 tensor stays `uint16` with its `dtype` attribute).
    ///
    /// - Parameters:
    ///   - destination: usually an ``AtomicFile`` sink's `temporaryPath`; its content is replaced.
    ///   - replacing: tensor name -> raw little-endian bytes in the tensor's own dtype, exactly
    ///     ``TensorInfo/byteCount`` of them (BOOL bytes 0 or 1). Everything is checked before
    ///     anything is written; the source is never opened for writing.
    ///   - output: the path errors about the copy name (default `destination`): the output the
    ///     user asked for, rather than a temporary name that is gone once the error is reported.
    /// A modified copy of an HDF5 file is the file itself with datasets overwritten in place:
    /// chunking, compression, attributes and every other object stay; nothing can be added, and a
    /// dataset keeps its dtype.
    public var editCapabilities: CheckpointEdit.Capabilities { [] }

    /// Writes `output` as a copy of this file with the edit's tensors overwritten (see
    /// ``writeModifiedCopy(of:to:replacing:reportingAs:)``). Every replacement is produced before
    /// anything is written.
    public func writeModifiedCopy(_ edit: CheckpointEdit, to output: String,
                                  verify: (_ temporaryPath: String) throws -> Void) throws -> CheckpointEdit.Result {
        if let added = edit.added.first {
            throw CheckpointError.invalidReplacement(path: path, tensor: added.info.name, reason: "an HDF5 file can only have existing datasets replaced")
        }
        var replacing: [String: [UInt8]] = [:]
        for tensor in edit.replaced {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(tensor.info.byteCount)
            try tensor.bytes { bytes.append(contentsOf: $0) }
            replacing[tensor.info.name] = bytes
        }
        let path = self.path
        let bytes = try AtomicFile(destination: output).write({ sink -> Int in
            try HDF5File.writeModifiedCopy(of: path, to: sink.temporaryPath, replacing: replacing, reportingAs: output)
            return replacing.values.reduce(0) { $0 + $1.count }
        }, beforePublish: verify)
        return CheckpointEdit.Result(bytes: bytes, streamingSeconds: nil)
    }

    public static func writeModifiedCopy(of source: String, to destination: String, replacing: [String: [UInt8]],
                                         reportingAs output: String? = nil) throws {
        let original = try HDF5File(path: source)
        var plan: [(entry: Entry, bytes: [UInt8])] = []
        for name in replacing.keys.sorted() {
            let bytes = replacing[name]!
            guard let entry = original.entries[name] else {
                if let skipped = original.skippedDatasets.first(where: { $0.name == name }) {
                    throw CheckpointError.invalidReplacement(path: source, tensor: name, reason: "it is not a tensor: \(skipped.reason)")
                }
                throw CheckpointError.noSuchTensor(path: source, tensor: name)
            }
            let info = entry.info
            guard bytes.count == info.byteCount else {
                throw CheckpointError.invalidReplacement(path: source, tensor: name, reason: "got \(bytes.count) bytes, but \(info.dtype.rawValue) \(info.shape) takes \(info.byteCount)")
            }
            if info.dtype == .bool, let bad = bytes.first(where: { $0 > 1 }) {
                throw CheckpointError.invalidReplacement(path: source, tensor: name, reason: "BOOL values must be 0 or 1, got \(bad)")
            }
            if !entry.parts.isEmpty {
                plan += HDF5File.split(bytes, of: entry).map { ($0.entry, $0.bytes) }
                continue
            }
            plan.append((entry, bytes))
        }

        try FileCopy.copyContents(of: source, to: destination, reportingAs: output)
        let context = HDF5Context(path: output ?? destination)
        let copy = try HDF5.openFile(destination, writable: true, reportingAs: output)
        for (entry, bytes) in plan {
            let datasetContext = context.at(entry.datasetPath)
            let dataset = try HDF5.openDataset(entry.datasetPath, in: copy, datasetContext)
            try bytes.withUnsafeBytes { raw in
                try HDF5.write(dataset, as: entry.memoryType, from: raw, datasetContext)
            }
        }
        try HDF5.flush(copy, context)
        try copy.close(context)
    }
}
