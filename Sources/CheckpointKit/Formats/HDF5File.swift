#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An HDF5 file of weights: Hugging Face's TensorFlow `tf_model.h5`, a Keras 2 `.h5`, a Keras 3
/// `.weights.h5`, or any other HDF5 file. libhdf5 does the reading (`HDF5Calls.swift`), so chunked
/// and compressed (deflate, shuffle, ...) datasets and big-endian data work.
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

    private let file: HDF5Handle
    private let entries: [String: Entry]
    private let buffers = ReadBufferPool()

    /// How to read one tensor.
    struct Entry {
        var info: TensorInfo
        var memoryType: HDF5MemoryType
        var storage: HDF5.Storage
    }

    /// Opens `path` read-only and lists its datasets, after ``HDF5Rehearsal`` has read its
    /// structure once in a child process.
    public convenience init(path: String) throws(CheckpointError) {
        try self.init(path: path, rehearsed: false)
    }

    /// `rehearsed` is true inside the rehearsal's child process.
    init(path: String, rehearsed: Bool) throws(CheckpointError) {
        self.path = path
        let probe = try HDF5File.probe(path)
        try probe.prefix.withUnsafeBytes { bytes in
            Result { () throws(CheckpointError) in try SafetensorsHeader.rejectKnownImpostors(bytes, path: path) }
        }.get()
        guard probe.signatureOffset != nil else {
            throw .unrecognizedFormat(path: path, reason: "not an HDF5 file (no HDF5 signature at byte 0, 512, 1024, 2048, ...)")
        }
        fileSize = probe.size

        if !rehearsed {
            try HDF5Rehearsal.run(path) {
                let file = try HDF5File(path: path, rehearsed: true)
                for tensor in file.tensors where file.entries[tensor.name]?.storage != .contiguous {
                    try file.withBytes(of: tensor) { _ in }
                }
            }
        }
        let file = try HDF5.openFile(path, writable: false)
        let context = HDF5Context(path: path)
        var walk = Walk()
        var visited = Set<UInt64>()
        try HDF5File.walk(file, prefix: "", depth: 0, visited: &visited, into: &walk, context)
        let (format, layout) = try HDF5File.layout(of: file, walk: walk, context)
        var datasets = walk.datasets
        let limit = fileSize.multipliedReportingOverflow(by: HDF5File.maxDeclaredBytesPerFileByte)
        let allowed = limit.overflow ? Int.max : limit.partialValue + HDF5File.declaredBytesAllowance
        var declared = 0
        for entry in datasets {
            let (sum, overflow) = declared.addingReportingOverflow(entry.info.byteCount)
            guard !overflow, sum <= allowed else {
                throw .invalidTensor(path: path, tensor: entry.info.name, reason: "the datasets declare more than \(allowed) bytes, over \(HDF5File.maxDeclaredBytesPerFileByte) times the \(fileSize)-byte file (no compression reaches that)")
            }
            declared = sum
        }
        switch format {
        case .huggingFaceTFH5, .keras2H5:
            var position: [String: Int] = [:]
            for (index, name) in layout.enumerated() where position[name] == nil { position[name] = index }
            let ranked = datasets.enumerated().map { (rank: position[$1.info.name] ?? layout.count + $0, entry: $1) }
            datasets = ranked.sorted { $0.rank < $1.rank }.map(\.entry)
        case .keras3WeightsH5:
            datasets.sort { HDF5File.numericAwarePrecedes($0.info.name, $1.info.name) }
        default:
            break
        }
        self.format = format
        tensors = datasets.map(\.info)
        entries = Dictionary(datasets.map { ($0.info.name, $0) }, uniquingKeysWith: { first, _ in first })
        skippedDatasets = walk.skipped
        metadata = try HDF5File.readMetadata(of: file, format: format, context)
        self.file = file
    }

    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let entry = entries[tensor.name] else {
            throw CheckpointError.noSuchTensor(path: path, tensor: tensor.name)
        }
        return try buffers.withBuffer(byteCount: entry.info.byteCount) { buffer in
            let context = HDF5Context(path: path, object: entry.info.name)
            try HDF5Library.locked { () throws(CheckpointError) in
                let dataset = try HDF5.openDataset(entry.info.name, in: file, context)
                try HDF5.read(dataset, as: entry.memoryType, into: buffer, context)
            }
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    // MARK: Content detection

    /// Whether `path` is an HDF5 file: the signature at byte 0, 512, 1024, 2048, ... (the HDF5
    /// specification lets a user block of those sizes precede the superblock). Reads at most a few
    /// dozen bytes and never calls libhdf5, so a format detector can use it on any file.
    public static func isHDF5(path: String) -> Bool {
        guard let probe = try? probe(path) else { return false }
        return probe.signatureOffset != nil
    }

    /// What the first bytes of a file say, read with plain POSIX calls.
    struct Probe {
        var size: Int
        /// Where the HDF5 signature is, if anywhere.
        var signatureOffset: Int?
        /// Up to the first 512 bytes (to recognise Git LFS pointers and HTML pages).
        var prefix: [UInt8]
    }

    static func probe(_ path: String) throws(CheckpointError) -> Probe {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .cannotOpen(path: path, reason: "not a regular file") }
        let size = Int(info.st_size)

        func readBytes(at offset: Int, count: Int) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return n > 0 ? Array(bytes[0..<n]) : []
        }
        let prefix = readBytes(at: 0, count: min(size, 512))
        var offset = 0
        while offset + signature.count <= size {
            if readBytes(at: offset, count: signature.count) == signature {
                return Probe(size: size, signatureOffset: offset, prefix: prefix)
            }
            offset = offset == 0 ? 512 : offset * 2
        }
        return Probe(size: size, signatureOffset: nil, prefix: prefix)
    }

    // MARK: Walking the groups

    /// Everything the walk found, in walk order.
    struct Walk {
        var datasets: [Entry] = []
        var skipped: [(name: String, reason: String)] = []
        var groups: Set<String> = []
    }

    /// Lists `group` and, depth first, its subgroups, each object once however many hard links
    /// reach it (`visited` holds object addresses).
    private static func walk(_ group: borrowing HDF5Handle, prefix: String, depth: Int, visited: inout Set<UInt64>, into walk: inout Walk, _ context: HDF5Context) throws(CheckpointError) {
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
                case let .tensor(info, memoryType, storage):
                    walk.datasets.append(Entry(info: info, memoryType: memoryType, storage: storage))
                case let .skipped(reason):
                    walk.skipped.append((name, reason))
                }
            case .namedDatatype, .other:
                continue
            }
        }
    }

    enum DatasetKind {
        case tensor(TensorInfo, HDF5MemoryType, HDF5.Storage)
        case skipped(String)
    }

    /// Maps a dataset's element type and shape to a tensor, or says why it is not one.
    private static func describeDataset(_ dataset: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> DatasetKind {
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
        return .tensor(TensorInfo(name: context.object, dtype: dtype, shape: shape, byteCount: byteCount), memoryType, storage)
    }

    struct SkipReason: Error { var message: String }

    /// Values of a dataset's `dtype` attribute (ml_dtypes names, as Keras 3 writes them) for types
    /// HDF5 has no element type of: the dataset holds their raw bits as unsigned integers or opaque
    /// bytes of the same width.
    static let declaredDTypes: [String: DType] = [
        "bfloat16": .bf16,
        "float8_e4m3fn": .f8E4M3, "float8_e5m2": .f8E5M2,
        "float8_e4m3fnuz": .f8E4M3FNUZ, "float8_e5m2fnuz": .f8E5M2FNUZ, "float8_e8m0fnu": .f8E8M0,
    ]

    /// The dtype an HDF5 element type maps to, and the memory type that reads it as little-endian
    /// bytes of that dtype. `declared` is the type a `dtype` attribute names, if any.
    static func tensorType(of facts: HDF5TypeFacts, declared: DType?) -> Result<(DType, HDF5MemoryType), SkipReason> {
        let bits = facts.size * 8
        let declared = declared.flatMap { $0.bitWidth == bits ? $0 : nil }
        switch facts.kind {
        case let .integer(signed):
            guard facts.precision == bits, facts.bitOffset == 0 else {
                return .failure(SkipReason(message: "\(facts.precision)-bit integers padded to \(bits) bits"))
            }
            if !signed, let declared {
                return .success((declared, .integer(size: facts.size, signed: false)))
            }
            let dtype: DType
            switch (bits, signed) {
            case (8, true): dtype = .i8
            case (8, false): dtype = .u8
            case (16, true): dtype = .i16
            case (16, false): dtype = .u16
            case (32, true): dtype = .i32
            case (32, false): dtype = .u32
            case (64, true): dtype = .i64
            case (64, false): dtype = .u64
            default: return .failure(SkipReason(message: "\(bits)-bit integers"))
            }
            return .success((dtype, .integer(size: facts.size, signed: signed)))
        case let .float(layout):
            guard facts.precision == bits, facts.bitOffset == 0 else {
                return .failure(SkipReason(message: "\(facts.precision)-bit floats padded to \(bits) bits"))
            }
            switch (bits, layout) {
            case (16, .ieeeHalf): return .success((.f16, .ownTypeLittleEndian))
            case (16, .bfloat16): return .success((.bf16, .ownTypeLittleEndian))
            case (32, .ieeeSingle): return .success((.f32, .ieeeFloat(size: 4)))
            case (64, .ieeeDouble): return .success((.f64, .ieeeFloat(size: 8)))
            default: return .failure(SkipReason(message: "\(bits)-bit floats that are not IEEE 754"))
            }
        case let .enumeration(baseSize, members):
            if baseSize == 1, members == ["FALSE": 0, "TRUE": 1] {
                return .success((.bool, .ownType))
            }
            let names = members.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key)
            return .failure(SkipReason(message: "enum (\(names.joined(separator: ", "))) that is not h5py's bool"))
        case .opaque:
            guard let declared else {
                return .failure(SkipReason(message: "opaque \(facts.size)-byte elements without a known dtype attribute"))
            }
            return .success((declared, .ownType))
        case let .other(kind):
            return .failure(SkipReason(message: "\(kind) elements"))
        }
    }

    // MARK: Layout and metadata

    /// The format the groups and attributes show, and (for Keras 2 and tf_model.h5) the dataset
    /// names in the layout's order.
    private static func layout(of file: borrowing HDF5Handle, walk: Walk, _ context: HDF5Context) throws(CheckpointError) -> (CheckpointFormat, [String]) {
        if walk.groups.contains("model_weights") {
            let group = try HDF5.openObject("model_weights", in: file, context.at("model_weights"))
            let listed = try listedWeights(in: group, prefix: "model_weights", file: file, walk: walk, context)
            return (.keras2H5, listed ?? [])
        }
        if let listed = try listedWeights(in: file, prefix: "", file: file, walk: walk, context) {
            return (.huggingFaceTFH5, listed)
        }
        let isKeras3 = walk.groups.contains("layers") && walk.groups.contains { group in
            let parts = group.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 3 && parts[0] == "layers" && parts[2] == "vars"
        }
        return (isKeras3 ? .keras3WeightsH5 : .hdf5, [])
    }

    /// Keras' `save_weights_to_hdf5_group` layout under `group`: attribute `layer_names`, a group
    /// per layer with attribute `weight_names`, the dataset at `layer/weight_name`. Nil unless every
    /// listed layer has its group and its `weight_names`.
    private static func listedWeights(in group: borrowing HDF5Handle, prefix: String, file: borrowing HDF5Handle, walk: Walk, _ context: HDF5Context) throws(CheckpointError) -> [String]? {
        guard let layers = try chunkedStringList("layer_names", of: group, context.at(prefix.isEmpty ? "/" : prefix)) else {
            return nil
        }
        var names: [String] = []
        for layer in layers {
            let layerPath = prefix.isEmpty ? layer : prefix + "/" + layer
            guard walk.groups.contains(layerPath) else { return nil }
            let layerGroup = try HDF5.openObject(layerPath, in: file, context.at(layerPath))
            guard let weights = try chunkedStringList("weight_names", of: layerGroup, context.at(layerPath)) else { return nil }
            names += weights.map { layerPath + "/" + $0 }
        }
        return names
    }

    /// A list attribute as Keras writes it: `name`, or split into `name0`, `name1`, ... when it
    /// would pass HDF5's 64 KB object-header limit. Nil if neither is there or it is not strings.
    private static func chunkedStringList(_ name: String, of object: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> [String]? {
        if try HDF5.hasAttribute(name, on: object, context) {
            return try HDF5.stringAttribute(name, of: object, context)?.values
        }
        var values: [String] = []
        var chunk = 0
        while try HDF5.hasAttribute("\(name)\(chunk)", on: object, context) {
            guard let part = try HDF5.stringAttribute("\(name)\(chunk)", of: object, context) else { return nil }
            values += part.values
            chunk += 1
        }
        return chunk > 0 ? values : nil
    }

    private static func readMetadata(of file: borrowing HDF5Handle, format: CheckpointFormat, _ context: HDF5Context) throws(CheckpointError) -> [String: String] {
        var metadata: [String: String] = [:]
        for name in try HDF5.attributeNames(of: file, context.at("/")) {
            if let attribute = try HDF5.stringAttribute(name, of: file, context.at("/")), attribute.isScalar, let value = attribute.values.first {
                metadata[name] = shortened(value)
            }
        }
        if format == .keras2H5 {
            let group = try HDF5.openObject("model_weights", in: file, context.at("model_weights"))
            for key in ["keras_version", "backend"] where metadata[key] == nil {
                if try HDF5.hasAttribute(key, on: group, context.at("model_weights")),
                   let attribute = try HDF5.stringAttribute(key, of: group, context.at("model_weights")), let value = attribute.values.first {
                    metadata[key] = shortened(value)
                }
            }
        }
        return metadata
    }

    /// `value` cut to ``maxMetadataValueBytes`` (on a character boundary) with a note of its length.
    static func shortened(_ value: String) -> String {
        let total = value.utf8.count
        guard total > maxMetadataValueBytes else { return value }
        var kept = String.UnicodeScalarView()
        var bytes = 0
        for scalar in value.unicodeScalars {
            bytes += UTF8.width(scalar)
            if bytes > maxMetadataValueBytes { break }
            kept.append(scalar)
        }
        return String(kept) + "… [truncated, \(total) bytes]"
    }

    /// Component-wise path order, the same as the walk's except that all-digit components come
    /// first and in numeric order (Keras 3 `vars/2` before `vars/10`).
    static func numericAwarePrecedes(_ a: String, _ b: String) -> Bool {
        let x = a.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        let y = b.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (p, q) in zip(x, y) where !p.elementsEqual(q) {
            let pDigits = !p.isEmpty && p.allSatisfy { (0x30...0x39).contains($0) }
            let qDigits = !q.isEmpty && q.allSatisfy { (0x30...0x39).contains($0) }
            if pDigits != qDigits { return pDigits }
            if pDigits {
                let pValue = p.drop { $0 == 0x30 }, qValue = q.drop { $0 == 0x30 }
                if pValue.count != qValue.count { return pValue.count < qValue.count }
                if !pValue.elementsEqual(qValue) { return pValue.lexicographicallyPrecedes(qValue) }
            }
            return p.lexicographicallyPrecedes(q)
        }
        return x.count < y.count
    }

    // MARK: Writing

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
            plan.append((entry, bytes))
        }

        try FileCopy.copyContents(of: source, to: destination, reportingAs: output)
        let context = HDF5Context(path: output ?? destination)
        let copy = try HDF5.openFile(destination, writable: true, reportingAs: output)
        for (entry, bytes) in plan {
            let datasetContext = context.at(entry.info.name)
            let dataset = try HDF5.openDataset(entry.info.name, in: copy, datasetContext)
            try bytes.withUnsafeBytes { raw in
                try HDF5.write(dataset, as: entry.memoryType, from: raw, datasetContext)
            }
        }
        try HDF5.flush(copy, context)
        try copy.close(context)
    }
}

/// One reusable read buffer, lent to one reader at a time (a concurrent or nested reader gets one of
/// its own). It keeps the size of the largest tensor read, so reading tensor after tensor does not
/// pay for fresh pages each time.
final class ReadBufferPool: @unchecked Sendable {
    private let lock = RecursiveLock()
    private var spare: UnsafeMutableRawBufferPointer?

    deinit { spare?.deallocate() }

    /// Calls `body` with a buffer of exactly `byteCount` bytes (contents undefined).
    func withBuffer<R>(byteCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        var buffer = lock.withLock { () -> UnsafeMutableRawBufferPointer? in
            defer { spare = nil }
            return spare
        }
        if let small = buffer, small.count < byteCount {
            small.deallocate()
            buffer = nil
        }
        let lent = buffer ?? .allocate(byteCount: max(byteCount, 1), alignment: 64)
        defer {
            lock.withLock {
                if let other = spare, other.count >= lent.count {
                    lent.deallocate()
                } else {
                    spare?.deallocate()
                    spare = lent
                }
            }
        }
        return try body(UnsafeMutableRawBufferPointer(rebasing: lent[0..<byteCount]))
    }
}
