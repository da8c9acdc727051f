import Crypto

/// The `ckpt-patch` format, version 1 (documented in docs/patch-format.md).
///
/// A patch is a safetensors file. For every tensor it touches it holds either the whole new tensor
/// (`<name>`, dense) or the changed entries (`<name>.indices`, sorted flat I32/I64 indices, and
/// `<name>.values`, the new values in the tensor's own dtype), whichever is smaller; names are the
/// base's, so applying needs no name mapping. Tensors only the fine-tune has (a new task head) are
/// stored whole under their fine-tune name. `__metadata__` describes the rest (see ``PatchMetadata``).
public enum PatchFormat {
    /// The value of the `format` metadata key.
    public static let name = "ckpt-patch"
    /// The version this code writes and reads.
    public static let version = 1
    /// Hex digits kept of each per-tensor SHA-256 (64 bits).
    public static let tensorHashLength = 16
    /// Hex digits kept of each line's SHA-256 in `base_manifest` (24 bits).
    public static let manifestDigestLength = 6
    /// The one tensor of a compressed patch: the zlib stream of the inner patch file.
    public static let compressedTensorName = "__ckpt_zlib__"
    /// Suffixes of the two entries of a sparse tensor.
    public static let indicesSuffix = ".indices"
    public static let valuesSuffix = ".values"
    /// The largest inner patch a compressed file may declare (it is inflated in memory).
    public static let maxInnerSize = 1 << 40

    /// The `__metadata__` keys.
    public enum Key {
        public static let format = "format"
        public static let version = "version"
        public static let selection = "selection"
        public static let storage = "storage"
        public static let namePrefix = "name_prefix"
        public static let nameMap = "name_map"
        public static let baseFingerprint = "base_fingerprint"
        public static let baseManifest = "base_manifest"
        public static let baseTensors = "base_tensors"
        public static let resultFingerprint = "result_fingerprint"
        public static let counts = "counts"
        public static let dataChecksum = "data_sha256"
        public static let compression = "compression"
        public static let innerSize = "inner_size"
        public static let innerChecksum = "inner_sha256"
    }

    /// Lower-case hex of `bytes`.
    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The first `length` hex digits of the SHA-256 of `bytes`.
    public static func hash(_ bytes: UnsafeRawBufferPointer, length: Int = tensorHashLength) -> String {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        return String(hex(hasher.finalize()).prefix(length))
    }

    public static func hash(_ bytes: [UInt8], length: Int = tensorHashLength) -> String {
        bytes.withUnsafeBytes { hash($0, length: length) }
    }

    /// One line of the base manifest: `name TAB DTYPE TAB d0,d1,... LF`.
    public static func manifestLine(_ tensor: TensorInfo) -> String {
        "\(tensor.name)\t\(tensor.dtype.rawValue)\t\(tensor.shape.map(String.init).joined(separator: ","))\n"
    }

    /// Tensors sorted by the UTF-8 bytes of their names (the manifest order).
    public static func manifestOrder(_ tensors: [TensorInfo]) -> [TensorInfo] {
        tensors.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// `base_fingerprint` (full SHA-256 of every manifest line, in name order) and `base_manifest`
    /// (the first ``manifestDigestLength`` hex digits of each line's own SHA-256, concatenated).
    public static func manifest(of tensors: [TensorInfo]) -> (fingerprint: String, digests: String) {
        var whole = SHA256()
        var digests = ""
        for tensor in manifestOrder(tensors) {
            let line = Array(manifestLine(tensor).utf8)
            whole.update(data: line)
            digests += hash(line, length: manifestDigestLength)
        }
        return (hex(whole.finalize()), digests)
    }
}

/// How one touched tensor is stored.
public enum PatchStorage: Character, Sendable, Codable {
    /// `<name>`: the whole result tensor.
    case dense = "d"
    /// `<name>.indices` + `<name>.values`: the changed entries.
    case sparse = "s"
    /// `<name>` under the fine-tune's name: a tensor the base does not have, appended to the output.
    case new = "n"

    public var label: String {
        switch self {
        case .dense: return "dense"
        case .sparse: return "sparse"
        case .new: return "new"
        }
    }
}

/// What the metadata says about one touched tensor.
public struct PatchTensorRecord: Sendable, Equatable {
    /// The base's name (the fine-tune's name for ``PatchStorage/new`` tensors).
    public var name: String
    public var storage: PatchStorage
    /// First 16 hex digits of the SHA-256 of the base tensor's bytes; nil for new tensors.
    public var baseHash: String?
    /// First 16 hex digits of the SHA-256 of the result tensor's bytes.
    public var resultHash: String
    /// The fine-tune's name for this tensor.
    public var finetunedName: String

    public init(name: String, storage: PatchStorage, baseHash: String?, resultHash: String, finetunedName: String) {
        self.name = name
        self.storage = storage
        self.baseHash = baseHash
        self.resultHash = resultHash
        self.finetunedName = finetunedName
    }
}

/// Counts recorded in the `counts` key.
public struct PatchCounts: Sendable, Equatable, Codable {
    /// Touched tensors stored dense, sparse, and new (only in the fine-tune).
    public var dense = 0
    public var sparse = 0
    public var new = 0
    /// Values stored: dense and new tensors' element counts plus sparse entries.
    public var entries = 0
    /// Entries that differ from the base (new tensors count whole).
    public var changed = 0
    /// Tensors in the base the patch was made for.
    public var baseTensors = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case dense, sparse, new, entries, changed
        case baseTensors = "base_tensors"
    }
}

/// The `__metadata__` of a patch file.
public struct PatchMetadata: Sendable, Equatable {
    /// The `--select` specification that made the patch.
    public var selection: String
    /// Every touched tensor, in the order of the data (names are not stored in the metadata: they
    /// are the entries' names, read with `storage`).
    public var tensors: [PatchTensorRecord]
    /// SHA-256 (64 hex digits) of the base's manifest: every tensor's name, dtype and shape.
    public var baseFingerprint: String
    /// Per base tensor, in manifest order, 6 hex digits of its manifest line's SHA-256: lets a
    /// mismatching base be told which of its tensors the patch's base did not have.
    public var baseManifest: String
    public var counts: PatchCounts
    /// First 16 hex digits of the SHA-256 of the data buffer (every entry's bytes, in order).
    public var dataChecksum: String

    public init(selection: String, tensors: [PatchTensorRecord], baseFingerprint: String, baseManifest: String,
                counts: PatchCounts, dataChecksum: String) {
        self.selection = selection
        self.tensors = tensors
        self.baseFingerprint = baseFingerprint
        self.baseManifest = baseManifest
        self.counts = counts
        self.dataChecksum = dataChecksum
    }

    /// The per-base-tensor digests of `base_manifest`.
    public var manifestDigests: [Substring] {
        var out: [Substring] = []
        var i = baseManifest.startIndex
        while i < baseManifest.endIndex {
            let j = baseManifest.index(i, offsetBy: PatchFormat.manifestDigestLength, limitedBy: baseManifest.endIndex) ?? baseManifest.endIndex
            out.append(baseManifest[i..<j])
            i = j
        }
        return out
    }

    /// The string map written to `__metadata__`.
    public func encoded() -> [String: String] {
        var m: [String: String] = [:]
        m[PatchFormat.Key.format] = PatchFormat.name
        m[PatchFormat.Key.version] = String(PatchFormat.version)
        m[PatchFormat.Key.selection] = selection
        m[PatchFormat.Key.storage] = String(tensors.map(\.storage.rawValue))
        m[PatchFormat.Key.baseTensors] = tensors.map { $0.baseHash ?? "" }.joined(separator: ",")
        m[PatchFormat.Key.resultFingerprint] = tensors.map(\.resultHash).joined(separator: ",")
        m[PatchFormat.Key.baseFingerprint] = baseFingerprint
        m[PatchFormat.Key.baseManifest] = baseManifest
        m[PatchFormat.Key.dataChecksum] = dataChecksum
        m[PatchFormat.Key.counts] = JSONOutput.compact(counts)
        // The name map: a prefix that turns most base names into fine-tune names, plus exceptions.
        var prefixVotes: [String: Int] = [:]
        for t in tensors where t.storage != .new && t.finetunedName.hasSuffix(t.name) {
            prefixVotes[String(t.finetunedName.dropLast(t.name.count)), default: 0] += 1
        }
        let prefix = prefixVotes.max { ($0.value, $1.key.count) < ($1.value, $0.key.count) }?.key ?? ""
        if !prefix.isEmpty { m[PatchFormat.Key.namePrefix] = prefix }
        let exceptions = tensors.filter { $0.storage != .new && $0.finetunedName != prefix + $0.name }
        if !exceptions.isEmpty {
            var nameMap = JSONOrderedObject()
            for t in exceptions { nameMap.append(t.name, t.finetunedName) }
            m[PatchFormat.Key.nameMap] = nameMap.text
        }
        return m
    }
}
