/// What the rehearsal's helper process found in an HDF5 file (datasets, skipped objects, format,
/// layout order, root metadata), sent back to the caller so that it need not walk the file with
/// libhdf5 a second time (the walk of a 787-object Keras 3 file costs about 25 ms, and two files
/// opened at once walk one after the other under libhdf5's global lock).
///
/// The report is untrusted input: a file that corrupts libhdf5's memory in the helper could make
/// it write anything. So ``decode(_:)`` is strict (every length and count checked against the bytes
/// left before anything is allocated, every enum value and memory type size checked, the exact end
/// required) and answers nil on any doubt, and the caller then walks the file in process, as it
/// did before reports existed. What a report says is no more trusted than the file: byte counts
/// are recomputed from dtype and shape, the declared total is checked against the file size, and
/// the byte range of each contiguous dataset is checked against the file when it is mapped.
///
/// Layout: the magic ``magic``, then little-endian fields. A string is a `UInt32` byte count and
/// UTF-8 bytes; a list a `UInt32` count and its items. Format (string), layout (strings), datasets
/// (name, dtype, rank `UInt8` and `UInt64` dimensions, memory type `UInt8` tag/size/signed,
/// storage `UInt8`, extent flag `UInt8` and `UInt64` offset and size), skipped (name, reason),
/// metadata (key, value), then ``end``.
public enum HDF5RehearsalReport {
    /// The first bytes of a report (the version is in the name).
    static let magic = Array("ckpt-hdf5-rehearsal-1\n".utf8)
    /// The last bytes: a report cut short (a helper killed while writing) lacks them.
    static let end = Array("end\n".utf8)
    /// Largest report the caller reads, in bytes; a larger one is ignored (the file is then walked
    /// in process). 100,000 datasets with 100-byte names take about 15 MB.
    static let maxBytes = 64 << 20

    /// Whether `bytes` decode as a report: the fuzz target's entry point.
    public static func isWellFormed(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { decode($0) } != nil
    }

    /// The report of `structure` and `metadata`.
    static func encode(_ structure: HDF5File.Structure, metadata: [String: String]) -> [UInt8] {
        var writer = HDF5ReportWriter()
        writer.bytes += magic
        writer.string(structure.format.rawValue)
        writer.strings(structure.layout)
        writer.count(structure.walk.datasets.count)
        for entry in structure.walk.datasets { writer.entry(entry) }
        writer.count(structure.walk.skipped.count)
        for skipped in structure.walk.skipped { writer.string(skipped.name); writer.string(skipped.reason) }
        let keys = metadata.keys.sorted()
        writer.count(keys.count)
        for key in keys { writer.string(key); writer.string(metadata[key]!) }
        writer.bytes += end
        return writer.bytes
    }

    /// The structure and metadata a report holds, or nil when it is malformed in any way.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> (structure: HDF5File.Structure, metadata: [String: String])? {
        var reader = HDF5ReportReader(bytes: bytes)
        guard reader.expect(magic),
              let formatName = reader.string(), let format = CheckpointFormat(rawValue: formatName),
              [.huggingFaceTFH5, .keras2H5, .keras3WeightsH5, .hdf5].contains(format),
              let layout = reader.strings() else { return nil }
        var walk = HDF5File.Walk()
        guard let datasetCount = reader.count() else { return nil }
        for _ in 0..<datasetCount {
            guard let entry = reader.entry() else { return nil }
            walk.datasets.append(entry)
        }
        guard let skippedCount = reader.count() else { return nil }
        for _ in 0..<skippedCount {
            guard let name = reader.string(), let reason = reader.string() else { return nil }
            walk.skipped.append((name, reason))
        }
        guard let metadataCount = reader.count() else { return nil }
        var metadata: [String: String] = [:]
        for _ in 0..<metadataCount {
            guard let key = reader.string(), let value = reader.string(), metadata[key] == nil else { return nil }
            metadata[key] = value
        }
        guard reader.expect(end), reader.isAtEnd else { return nil }
        return (HDF5File.Structure(walk: walk, format: format, layout: layout), metadata)
    }
}
