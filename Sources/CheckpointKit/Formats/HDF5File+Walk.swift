/// Walking the groups: every dataset reachable through hard links, once.
extension HDF5File {
    /// Everything the walk found, in walk order.
    struct Walk {
        var datasets: [Entry] = []
        var skipped: [(name: String, reason: String)] = []
        var groups: Set<String> = []
    }

    /// Lists `group` and, depth first, its subgroups, each object once however many hard links
    /// reach it (`visited` holds object addresses).
    static func walk(_ group: borrowing HDF5Handle, prefix: String, depth: Int, visited: inout Set<UInt64>, into walk: inout Walk, _ context: HDF5Context) throws(CheckpointError) {
        for link in try HDF5.links(in: group, context.at(prefix.isEmpty ? "/" : prefix)) {
            let name = prefix.isEmpty ? link.name : prefix + "/" + link.name
            let address: UInt64
            switch link.kind {
            case .soft:
                walk.skipped.append((name, "soft link (not followed)"))
                continue
            case .external:
                walk.skipped.append((name, "external link to another file (not followed)"))
                continue
            case .userDefined:
                walk.skipped.append((name, "user-defined link (not followed)"))
                continue
            case let .hard(target):
                address = target
            }
            guard visited.insert(address).inserted else { continue }
            let object = try HDF5.openObject(link.name, in: group, context.at(name))
            switch try HDF5.objectType(object, context.at(name)) {
            case .group:
                guard depth < maxGroupDepth else {
                    throw .invalidHeader(path: context.path, reason: "groups nested more than \(maxGroupDepth) deep, at '\(name)'")
                }
                walk.groups.insert(name)
                try HDF5File.walk(object, prefix: name, depth: depth + 1, visited: &visited, into: &walk, context)
            case .dataset:
                switch try describeDataset(object, context.at(name)) {
                case let .tensor(info, memoryType, storage, extent):
                    walk.datasets.append(Entry(info: info, memoryType: memoryType, storage: storage, extent: extent))
                case let .skipped(reason):
                    walk.skipped.append((name, reason))
                }
            case .namedDatatype, .other:
                continue
            }
        }
    }

    enum DatasetKind {
        /// `extent` is the declared byte range of a dataset whose stored bytes are what
        /// ``HDF5File/withBytes(of:_:)`` hands out (contiguous, little-endian, no conversion).
        case tensor(TensorInfo, HDF5MemoryType, HDF5.Storage, extent: (offset: UInt64, size: UInt64)?)
        case skipped(String)
    }

    /// Maps a dataset's element type and shape to a tensor, or says why it is not one.
    static func describeDataset(_ dataset: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> DatasetKind {
        let facts = try HDF5.elementType(of: dataset, context)
        var declared: DType?
        switch facts.kind {
        case .integer(signed: false), .opaque:
            if try HDF5.hasAttribute("dtype", on: dataset, context),
               let attribute = try HDF5.stringAttribute("dtype", of: dataset, context), attribute.isScalar,
               let name = attribute.values.first {
                declared = declaredDTypes[name]
            }
        default:
            break
        }
        let dtype: DType
        let memoryType: HDF5MemoryType
        switch tensorType(of: facts, declared: declared) {
        case let .success(mapped): (dtype, memoryType) = mapped
        case let .failure(reason): return .skipped(reason.message)
        }
        guard let shape = try HDF5.shape(of: dataset, context) else {
            return .skipped("null dataspace (no data)")
        }
        let storage = try HDF5.storage(of: dataset, context)
        if storage == .otherFiles {
            return .skipped("stored in other files (a virtual or external dataset; never read)")
        }
        var byteCount = dtype.byteWidth!
        for size in shape {
            let (product, overflow) = byteCount.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw .invalidTensor(path: context.path, tensor: context.object, reason: "shape \(shape) is too large (overflow)")
            }
            byteCount = product
        }
        // Contiguous storage is never filtered; a little-endian type read as itself (every memory
        // type reads little-endian) needs no conversion, so the file holds the bytes as handed out.
        let extent = storage == .contiguous && !facts.bigEndian ? HDF5.contiguousExtent(of: dataset) : nil
        return .tensor(TensorInfo(name: context.object, dtype: dtype, shape: shape, byteCount: byteCount), memoryType, storage, extent: extent)
    }
}
