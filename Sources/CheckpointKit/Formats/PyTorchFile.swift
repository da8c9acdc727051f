/// A `torch.save` file (`pytorch_model.bin`, `.pt`, `.pth`) in the zip format PyTorch has written
/// since 1.6: `<name>/data.pkl` (the object, pickled), `<name>/data/<key>` (one stored entry per
/// storage, raw little-endian), `<name>/byteorder`, `<name>/version`. Read without running anything:
/// the pickle goes through ``PickleMachine``, which builds only dicts, lists, tuples, scalars and
/// tensor views.
///
/// Opening reads the zip directory and the pickle, never a storage. A contiguous tensor is a view of
/// the mapped file (read in place, copied file to file); a strided one (a slice saved as is) is
/// gathered element by element when it is read. Tensors sharing a storage (tied weights) are
/// listed in ``metadata`` as `storage of <tensor>`.
public final class PyTorchFile: Checkpoint, @unchecked Sendable {
    /// The largest `data.pkl` read, in bytes (a state dict's is a few hundred KB; a training
    /// checkpoint with a large pickled optimizer state a few MB).
    public static let maxPickleSize = 256 << 20

    public let path: String
    public var format: CheckpointFormat { .pyTorch }
    public let tensors: [TensorInfo]
    /// `format: pt`, the key of the state dict read (`state_dict_key`) and the shared storages.
    public let metadata: [String: String]
    public var fileSize: Int { file.size }
    /// The entries that are not tensors (`epoch`, optimizer hyper-parameters, ...).
    public let skipped: [SkippedObject]
    /// Whether every tensor is a contiguous view, read in place.
    public let bytesAreFileMapped: Bool

    private let file: MappedFile
    private let views: [String: PyTorchView]

    /// Opens `path`; `key` picks the top-level entry of a training checkpoint to read (nil: the
    /// whole file, or its one obvious state dict).
    public init(path: String, key: String? = nil) throws(CheckpointError) {
        self.path = path
        file = try MappedFile(path: path)
        let archive = try ZipArchive(bytes: file.bytes, path: path)
        let prefix = try PyTorchFile.recordPrefix(archive, bytes: file.bytes, path: path)
        let stateDict = try PyTorchFile.unpickle(file: file, archive: archive, prefix: prefix, path: path) { root throws(CheckpointError) in
            try PyTorchStateDict(root: root, key: key, path: path)
        }
        var views: [String: PyTorchView] = [:]
        var infos: [TensorInfo] = []
        var metadata = ["format": "pt"]
        var firstUser: [String: String] = [:]
        for (name, tensor) in stateDict.tensors {
            guard views[name] == nil else { throw .invalidTensor(path: path, tensor: name, reason: "named twice") }
            let entry = try archive.storedRange(of: prefix + "data/" + tensor.storage.key, path: path)!
            let view = try PyTorchView(tensor, entry: entry, name: name, path: path)
            views[name] = view
            infos.append(view.info(name: name))
            if let first = firstUser[tensor.storage.key] {
                metadata["storage of \(name)"] = "shared with \(first)"
            } else {
                firstUser[tensor.storage.key] = name
            }
        }
        if let selected = stateDict.selectedKey { metadata["state_dict_key"] = selected }
        tensors = infos
        skipped = stateDict.others
        self.metadata = metadata
        self.views = views
        bytesAreFileMapped = views.values.allSatisfy(\.isContiguous)
    }

    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let view = views[tensor.name] else { throw CheckpointError.noSuchTensor(path: path, tensor: tensor.name) }
        if view.isContiguous { return try body(file.bytes(in: view.contiguousRange)) }
        let gathered = view.gather(from: file.bytes)
        return try gathered.withUnsafeBytes { try body($0) }
    }

    public func storedLocation(of tensor: TensorInfo) -> StoredLocation? {
        guard let view = views[tensor.name], view.isContiguous else { return nil }
        return StoredLocation(file: path, range: view.contiguousRange)
    }

    /// A copy is safetensors (nothing writes a pickle) with `format: pt`: the shared storages and
    /// the chosen state dict key describe this file, not the copy.
    public var copyMetadata: [String: String] { ["format": "pt"] }

    /// The archive's record directory (`archive/`, `pytorch_model/`): torch names every entry
    /// `<dir>/...` after the first one's directory.
    static func recordPrefix(_ archive: ZipArchive, bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) -> String {
        guard let first = archive.entries.first?.name, let slash = first.firstIndex(of: "/") else {
            throw .unrecognizedFormat(path: path, reason: "a zip archive, but not a torch.save checkpoint (no <name>/data.pkl)")
        }
        let prefix = String(first[...slash])
        guard archive.entry(named: prefix + "data.pkl") != nil else {
            throw .unrecognizedFormat(path: path, reason: "a zip archive, but not a torch.save checkpoint (no \(prefix)data.pkl)")
        }
        if let order = try archive.storedRange(of: prefix + "byteorder", path: path) {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[order]), as: UTF8.self)
            guard text == "little" else {
                throw .invalidHeader(path: path, reason: "byteorder is '\(text.prefix(16))'; only little-endian checkpoints are read")
            }
        }
        return prefix
    }

    /// Runs the pickle through ``PickleMachine``; every storage it names must be a stored entry.
    static func unpickle<R>(file: MappedFile, archive: ZipArchive, prefix: String, path: String,
                            _ body: (PickleValue) throws(CheckpointError) -> R) throws(CheckpointError) -> R {
        let range = try archive.storedRange(of: prefix + "data.pkl", path: path)!
        guard range.count <= maxPickleSize else {
            throw .invalidPickle(path: path, reason: "data.pkl is \(range.count) bytes, over the \(maxPickleSize)-byte limit")
        }
        return try PickleMachine.load(file.bytes(in: range), path: path, loadStorage: { type, key throws(CheckpointError) in
            guard !key.isEmpty, !key.contains("/"), try archive.storedRange(of: prefix + "data/" + key, path: path) != nil else {
                throw .invalidPickle(path: path, reason: "storage '\(key)' has no entry \(prefix)data/\(key)")
            }
            switch type {
            case let .storageType(dtype): return PickleStorage(key: key, dtype: dtype)
            default: return PickleStorage(key: key, dtype: nil)
            }
        }, body)
    }
}

extension PyTorchFile {
    /// What the first bytes of a file say about it, as far as PyTorch is concerned.
    public enum Probe: Sendable {
        /// A zip archive (`PK\u{3}\u{4}` followed by a non-zero version field; a safetensors file
        /// whose header length happened to spell `PK\u{3}\u{4}` has zero bytes there).
        case zip
        /// The pickle stream of the legacy format (protocol 2, then the magic number
        /// 0x1950a86a20f9469cfc6c as LONG1) or a bare pickle with a PyTorch file name.
        case legacy
    }

    /// The legacy format's first 14 bytes: PROTO 2, LONG1 10, the magic number little-endian.
    static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// Detection by content; nil for anything else.
    public static func probe(_ bytes: UnsafeRawBufferPointer, path: String) -> Probe? {
        if bytes.count >= 8, bytes.prefix(4).elementsEqual([0x50, 0x4B, 0x03, 0x04]), bytes[4...7].contains(where: { $0 != 0 }) {
            return .zip
        }
        if bytes.starts(with: legacyMagic) { return .legacy }
        let pyTorchName = [".bin", ".pt", ".pth"].contains { path.hasSuffix($0) }
        if pyTorchName, bytes.count >= 2, bytes[0] == 0x80, (2...5).contains(bytes[1]) { return .legacy }
        return nil
    }
}
