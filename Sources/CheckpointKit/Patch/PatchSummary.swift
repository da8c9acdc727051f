/// What a patch holds, for `ckpt inspect TASK.patch`.
public struct PatchSummary: Sendable, Encodable {
    public struct Entry: Sendable, Encodable {
        public var name: String
        public var storage: String
        public var dtype: DType
        /// Shape of the stored values (dense: the tensor; sparse: [changed entries]).
        public var shape: [Int]
        public var entries: Int
        public var bytes: Int
        public var finetunedName: String
        @ExplicitNull public var baseHash: String? = nil
        public var resultHash: String
        /// The result's shape when the patch changes it (a resized tensor, a replaced head; version 2).
        @ExplicitNull public var resultShape: [Int]? = nil
        /// The dtype the base tensor is converted to before it is patched (version 2), or null.
        @ExplicitNull public var convertedTo: DType? = nil

        enum CodingKeys: String, CodingKey {
            case name, storage, dtype, shape, entries, bytes
            case finetunedName = "finetuned_name"
            case baseHash = "base_sha256_16"
            case resultHash = "result_sha256_16"
            case resultShape = "result_shape"
            case convertedTo = "converted_to"
        }
    }

    public var path: String
    public var format: String
    public var version: Int
    public var fileSize: Int
    public var compressed: Bool
    /// Bytes of stored tensor data (inflated).
    public var dataSize: Int
    public var headerSize: Int
    public var selection: String
    public var counts: PatchCounts
    public var baseFingerprint: String
    public var dataChecksum: String
    public var tensors: [Entry]

    enum CodingKeys: String, CodingKey {
        case path, format, version, compressed, selection, counts, tensors
        case fileSize = "file_size"
        case dataSize = "data_size"
        case headerSize = "header_size"
        case baseFingerprint = "base_fingerprint"
        case dataChecksum = "data_sha256"
    }

    public init(_ patch: PatchFile) {
        path = patch.path
        format = PatchFormat.name
        version = patch.version
        fileSize = patch.fileSize
        compressed = patch.isCompressed
        dataSize = patch.dataSize
        headerSize = patch.headerSize
        selection = patch.metadata.selection
        counts = patch.metadata.counts
        baseFingerprint = patch.metadata.baseFingerprint
        dataChecksum = patch.metadata.dataChecksum
        tensors = patch.tensors.map { t in
            Entry(name: t.name, storage: t.storage.label, dtype: t.values.dtype, shape: t.values.shape, entries: t.storedCount,
                  bytes: t.byteCount, finetunedName: t.record.finetunedName, baseHash: t.record.baseHash, resultHash: t.record.resultHash,
                  resultShape: t.resultShape, convertedTo: t.record.conversion)
        }
    }
}
