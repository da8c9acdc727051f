/// Keras 3 variables named after the parameters they hold.
extension HDF5File {
    /// The datasets of a Keras 3 `.weights.h5` with each recognised variable renamed to the
    /// Hugging Face-style name ``Keras3Names`` gives it (the dataset path is kept for reading and
    /// writing); unrecognised ones keep their paths. Were two variables to get one name, none is
    /// renamed: a stored path is never wrong, a shared name would be.
    static func namingKeras3Variables(_ datasets: [Entry]) -> [Entry] {
        let resolution = Keras3Names.resolve(datasets.map(\.info))
        let given = resolution.names.compactMap { $0 }
        guard Set(given).count == given.count else { return datasets }
        var renamed = datasets
        for (index, name) in resolution.names.enumerated() {
            guard let name else { continue }
            renamed[index].dataset = renamed[index].info.name
            renamed[index].info.name = name
        }
        return renamed
    }
}

/// Keras 3 variables presented as the one tensor Hugging Face stores (GPT-2's `c_attn`).
extension HDF5File {
    /// The datasets with each group ``Keras3Names/fusions(_:)`` names replaced by one entry that
    /// reads them concatenated along their last axis (in the first part's place), so that the
    /// fused tensor pairs with Hugging Face's as it is stored: no alignment rule, no copy of the
    /// file. Parts are read and written through their own datasets.
    static func fusingKeras3Variables(_ datasets: [Entry]) -> [Entry] {
        let fusions = Keras3Names.fusions(datasets.map(\.info))
        guard !fusions.isEmpty else { return datasets }
        let index = Dictionary(datasets.enumerated().map { ($1.info.name, $0) }, uniquingKeysWith: { first, _ in first })
        var replaced: [Int: Entry] = [:]
        var removed = Set<Int>()
        for fusion in fusions {
            let positions = fusion.parts.compactMap { index[$0] }
            guard positions.count == fusion.parts.count, let first = positions.first else { continue }
            let parts = positions.map { datasets[$0] }
            var entry = parts[0]
            entry.info = TensorInfo(name: fusion.name, dtype: parts[0].info.dtype, shape: fusion.shape,
                                    byteCount: parts.reduce(0) { $0 + $1.info.byteCount })
            entry.storage = parts.allSatisfy { $0.storage == .contiguous } ? .contiguous : .chunked
            entry.extent = nil
            entry.fileRange = nil
            entry.dataset = nil
            entry.parts = parts
            entry.fusedRows = fusion.rows
            replaced[first] = entry
            removed.formUnion(positions.dropFirst())
        }
        return datasets.indices.compactMap { removed.contains($0) ? nil : replaced[$0] ?? datasets[$0] }
    }

    /// A fused entry's bytes: each part's rows placed side by side (one buffer of the fused tensor).
    func withFusedBytes<R>(of entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let fused = UnsafeMutableRawBufferPointer.allocate(byteCount: entry.info.byteCount, alignment: 16)
        defer { fused.deallocate() }
        let rowBytes = entry.info.byteCount / max(entry.fusedRows, 1)
        var column = 0
        for part in entry.parts {
            let partRow = part.info.byteCount / max(entry.fusedRows, 1)
            try withStoredBytes(of: part) { bytes in
                for row in 0..<entry.fusedRows {
                    UnsafeMutableRawBufferPointer(rebasing: fused[(row * rowBytes + column)..<(row * rowBytes + column + partRow)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[(row * partRow)..<((row + 1) * partRow)]))
                }
            }
            column += partRow
        }
        return try body(UnsafeRawBufferPointer(fused))
    }

    /// The fused tensor's bytes cut back into its parts' (the inverse of ``withFusedBytes(of:_:)``).
    static func split(_ bytes: [UInt8], of entry: Entry) -> [(entry: Entry, bytes: [UInt8])] {
        let rows = max(entry.fusedRows, 1)
        let rowBytes = bytes.count / rows
        var column = 0
        return entry.parts.map { part in
            let partRow = part.info.byteCount / rows
            var out: [UInt8] = []
            out.reserveCapacity(part.info.byteCount)
            for row in 0..<rows { out += bytes[(row * rowBytes + column)..<(row * rowBytes + column + partRow)] }
            column += partRow
            return (part, out)
        }
    }
}
