import Glibc

/// An HDF5 file of weights: Hugging Face's TensorFlow `tf_model.h5`, a Keras 2 `.h5`, a Keras 3
/// `.weights.h5`, or any other HDF5 file. libhdf5 reads the structure (`HDF5Calls.swift`), and
/// the data of chunked and compressed (deflate, shuffle, ...) datasets and big-endian data, through
/// one reused buffer. A contiguous, uncompressed, little-endian dataset (what h5py and Keras write by
/// default) is one byte range of the file (`H5Dget_offset`, `H5Dget_storage_size`): the range is
/// checked against the file when it is opened and the tensor is then served from a read-only map of
/// the file, as a safetensors tensor is (``bytesAreFileMapped``, ``storedLocation(of:)``).
///
/// Every dataset reachable through hard links is listed once, named by its path without the leading
/// `/` (`bert/tf_bert_model/bert/encoder/layer_._0/attention/output/LayerNorm/gamma:0`). Soft and
/// external links are never followed. Datasets whose elements are IEEE floats (16, 32, 64 bits),
/// integers (8 to 64 bits) or h5py's bool enum become ``tensors``; a `uint16` or opaque 2-byte
/// dataset with attribute `dtype="bfloat16"` (Keras 3) is ``DType/bf16`` (likewise the float8
/// names of ml_dtypes on 1-byte data). The rest are in ``skippedDatasets``.
///
/// Tensors come in the order the file's layout lists them: `layer_names` then each layer's
/// `weight_names` for tf_model.h5 and Keras 2 (Keras' own save order), `vars/0, vars/1, ..., vars/10`
/// in numeric order for Keras 3, otherwise the alphabetical walk order (as h5py's `visititems`).
public final class HDF5File: Checkpoint, @unchecked Sendable {
    /// The 8 bytes that start an HDF5 superblock: `\x89HDF\r\n\x1a\n`.
    public static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Deepest group nesting read. A tf_model.h5 nests about 10 deep; deeper files are refused.
    public static let maxGroupDepth = 64
    /// Longest metadata value kept whole, in UTF-8 bytes; longer ones (a Keras 2 `model_config`) are
    /// cut there and marked.
    public static let maxMetadataValueBytes = 1024
    /// Most bytes the datasets of a file may declare, as a multiple of the file's size. deflate (the
    /// strongest filter h5py and Keras use) cannot compress better than about 1032:1, so a file whose
    /// datasets claim more is lying (or is all unwritten fill value, which no checkpoint writer
    /// produces); it is refused when opened, before any read buffer is allocated.
    public static let maxDeclaredBytesPerFileByte = 1032
    /// Declared bytes always allowed, whatever the file size (covers tiny files' headroom).
    public static let declaredBytesAllowance = 1 << 20
    /// Most strings a string attribute may hold (Keras `layer_names` / `weight_names` lists have a
    /// few thousand at most). Each variable-length string is a separate global-heap read in
    /// libhdf5, so a fuzzed attribute claiming millions of them took minutes (FuzzHDF5 timeout).
    public static let maxAttributeStrings = 1 << 16
    /// Most bytes a fixed-length string attribute may declare (count x string size), checked
    /// before the read buffer is allocated.
    public static let maxAttributeBytes = 16 << 20
    /// Most dimensions a dataset may have (libhdf5's own `H5S_MAX_RANK` is 32).
    public static let maxRank = 32

    public let path: String
    public let format: CheckpointFormat
    public let tensors: [TensorInfo]
    /// Scalar string attributes of the root group (for Keras 2 also `keras_version` and `backend`
    /// from `model_weights` when the root lacks them).
    public let metadata: [String: String]
    public let fileSize: Int
    /// Datasets that are not tensors (strings, compound records, enums other than bool, null
    /// dataspaces) and links that are not followed (soft, external), in walk order, with the reason.
    public let skippedDatasets: [(name: String, reason: String)]

    let file: HDF5Handle
    let entries: [String: Entry]
    private let buffers = BufferPool()
    /// A read-only map of the file when some dataset's bytes can be served from it (see
    /// ``Entry/fileRange``), else nil.
    private let map: MappedFile?
    /// Whether every tensor is served from ``map``.
    private let everyTensorMapped: Bool

    /// How to read one tensor.
    struct Entry {
        var info: TensorInfo
        var memoryType: HDF5MemoryType
        var storage: HDF5.Storage
        /// The declared byte range of a contiguous little-endian dataset (libhdf5's word, checked
        /// only when the file is opened).
        var extent: (offset: UInt64, size: UInt64)?
        /// Where the dataset's bytes lie in the file, exactly as ``HDF5File/withBytes(of:_:)``
        /// hands them out: contiguous, unfiltered, little-endian, read without conversion. Such
        /// datasets are served from a map of the file, as safetensors are (no copy, no libhdf5
        /// call); the rest (chunked, compressed, big-endian) are read through libhdf5.
        var fileRange: Range<Int>?
        /// The dataset's path in the file when the tensor is known by another name (a Keras 3
        /// variable, see ``Keras3Names``), else nil.
        var dataset: String? = nil
        var datasetPath: String { dataset ?? info.name }
        /// A tensor presented as the concatenation of these datasets along their last axis, each
        /// viewed as `fusedRows` rows (``fusingKeras3Variables(_:)``); empty for a plain dataset.
        var parts: [Entry] = []
        var fusedRows = 0
    }

    /// Opens `path` read-only and lists its datasets, after ``HDF5Rehearsal`` has read its
    /// structure once in a child process.
    public init(path: String) throws(CheckpointError) {
        self.path = path
        let probe = try HDF5File.probe(path)
        try probe.prefix.withUnsafeBytes { bytes in
            Result { () throws(CheckpointError) in try SafetensorsHeader.rejectKnownImpostors(bytes, path: path) }
        }.get()
        guard probe.signatureOffset != nil else {
            throw .unrecognizedFormat(path: path, reason: "not an HDF5 file (no HDF5 signature at byte 0, 512, 1024, 2048, ...)")
        }
        fileSize = probe.size

        let report = try HDF5Rehearsal.run(path) { [fileSize] in try HDF5File.rehearse(path, fileSize: fileSize) }
        let file = try HDF5.openFile(path, writable: false)
        let (structure, reportedMetadata) = try HDF5File.structure(of: file, report: report, path: path, fileSize: fileSize)
        let (format, layout) = (structure.format, structure.layout)
        var datasets = structure.walk.datasets
        switch format {
        case .huggingFaceTFH5, .keras2H5:
            var position: [String: Int] = [:]
            for (index, name) in layout.enumerated() where position[name] == nil { position[name] = index }
            let ranked = datasets.enumerated().map { (rank: position[$1.info.name] ?? layout.count + $0, entry: $1) }
            datasets = ranked.sorted { $0.rank < $1.rank }.map(\.entry)
        case .keras3WeightsH5:
            datasets.sort { HDF5File.numericAwarePrecedes($0.info.name, $1.info.name) }
            datasets = HDF5File.namingKeras3Variables(datasets)
        default:
            break
        }
        (map, datasets) = try HDF5File.mapContiguous(datasets, path: path)
        if format == .keras3WeightsH5 { datasets = HDF5File.fusingKeras3Variables(datasets) }
        everyTensorMapped = map != nil && datasets.allSatisfy { $0.fileRange != nil }
        self.format = format
        tensors = datasets.map(\.info)
        entries = Dictionary(datasets.map { ($0.info.name, $0) }, uniquingKeysWith: { first, _ in first })
        skippedDatasets = structure.walk.skipped
        if let reportedMetadata {
            metadata = reportedMetadata
        } else {
            metadata = try HDF5Library.locked { () throws(CheckpointError) in
                try HDF5File.readMetadata(of: file, format: format, HDF5Context(path: path))
            }
        }
        self.file = file
    }

    public var skipped: [SkippedObject] {
        skippedDatasets.map { SkippedObject(name: $0.name, reason: $0.reason) }
    }

    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let entry = entries[tensor.name] else {
            throw CheckpointError.noSuchTensor(path: path, tensor: tensor.name)
        }
        if !entry.parts.isEmpty { return try withFusedBytes(of: entry, body) }
        return try withStoredBytes(of: entry, body)
    }

    /// The bytes of one dataset: from the map of the file, or read through libhdf5.
    func withStoredBytes<R>(of entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if let range = entry.fileRange, let map { return try body(map.bytes(in: range)) }
        return try buffers.withBuffer(byteCount: entry.info.byteCount) { buffer in
            try HDF5File.read(entry, from: file, path: path, into: buffer)
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    public func storedLocation(of tensor: TensorInfo) -> StoredLocation? {
        guard map != nil, let range = entries[tensor.name]?.fileRange else { return nil }
        return StoredLocation(file: path, range: range)
    }

    /// True when every tensor is a view of the file's map (the default h5py and Keras layout:
    /// contiguous, uncompressed, little-endian).
    public var bytesAreFileMapped: Bool { everyTensorMapped }

    /// Maps the file and gives each dataset with a declared extent its ``Entry/fileRange``, after
    /// checking the extent against the file: a range outside it is an error naming the dataset
    /// (libhdf5 would only fail when the dataset is read). Returns no map when no dataset has one.
    static func mapContiguous(_ datasets: [Entry], path: String) throws(CheckpointError) -> (MappedFile?, [Entry]) {
        guard datasets.contains(where: { $0.extent != nil }) else { return (nil, datasets) }
        let map = try MappedFile(path: path)
        var mapped = datasets
        for index in mapped.indices {
            let info = mapped[index].info
            // An empty dataset has no storage to point at, and nothing to read.
            if info.byteCount == 0 { mapped[index].fileRange = 0..<0; continue }
            guard let extent = mapped[index].extent else { continue }
            let (end, overflow) = extent.offset.addingReportingOverflow(extent.size)
            guard !overflow, end <= UInt64(map.size) else {
                throw .invalidTensor(path: path, tensor: info.name, reason: "data declared at bytes \(extent.offset)..<\(overflow ? UInt64.max : end) lies outside the \(map.size)-byte file")
            }
            guard extent.size == UInt64(info.byteCount) else { continue }
            mapped[index].fileRange = Int(extent.offset)..<Int(end)
        }
        return (map, mapped)
    }
}
