import Crypto

/// The `ckpt-patch` format, version 2 (documented in docs/patch-format.md; version 1 is read too).
///
/// A patch is a safetensors file. For every tensor it touches it holds the whole new tensor
/// (`<name>`, dense), the changed entries (`<name>.indices`, sorted flat I32/I64 indices, and
/// `<name>.values`, the new values), those plus the added rows of a resized tensor (`<name>.rows`),
/// or nothing for a tensor that is only converted to another dtype; names are the base's. Tensors
/// only the fine-tune has (a new task head) are stored whole, named as the base would name them.
/// `__metadata__` describes the rest (see ``PatchMetadata`` and ``PatchStorage``).
public enum PatchFormat {
    /// The value of the `format` metadata key.
    public static let name = "ckpt-patch"
    /// The version this code writes. Version 2 adds conversions (`convert`, storage `c`) and
    /// resized tensors (`shapes`, storage `r`); a version 1 patch has neither and reads unchanged.
    public static let version = 2
    /// The versions this code reads.
    public static let readableVersions: Set<String> = ["1", "2"]
    /// Hex digits kept of each per-tensor SHA-256 (64 bits).
    public static let tensorHashLength = 16
    /// Hex digits kept of each line's SHA-256 in `base_manifest` (24 bits).
    public static let manifestDigestLength = 6
    /// The one tensor of a compressed patch: the zlib stream of the inner patch file.
    public static let compressedTensorName = "__ckpt_zlib__"
    /// Suffixes of the two entries of a sparse tensor.
    public static let indicesSuffix = ".indices"
    public static let valuesSuffix = ".values"
    /// Suffix of the added rows of a resized tensor (storage `r`).
    public static let rowsSuffix = ".rows"
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
        /// JSON object: base name -> result shape, for every tensor whose shape the patch changes.
        public static let shapes = "shapes"
        public static let dataChecksum = "data_sha256"
        public static let compression = "compression"
        public static let innerSize = "inner_size"
        public static let innerChecksum = "inner_sha256"
        /// Version 2: base name -> dtype the base tensor is converted to before it is patched,
        /// listed in the order of `storage`.
        public static let convert = "convert"
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
