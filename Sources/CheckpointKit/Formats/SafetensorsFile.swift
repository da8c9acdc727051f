/// One `.safetensors` file: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the
/// data buffer.
///
/// Validation follows the reference Rust reader (huggingface/safetensors `tensor.rs`): header at most
/// 100,000,000 bytes, UTF-8 JSON with no duplicate keys, every dtype known, shape x dtype size equal
/// to the byte span (checked multiplication), spans sorted with no gap and no overlap starting at 0,
/// and no bytes after the last one. Data offsets are not assumed aligned.
public final class SafetensorsFile: Checkpoint, @unchecked Sendable {
    /// The largest header the reference reader accepts, in bytes.
    public static let maxHeaderSize = 100_000_000
    /// Most dimensions a tensor may have. PyTorch allows 64 (`MAX_DIMS`); real checkpoints
    /// use at most 5; a longer `shape` array is refused while the header JSON is parsed (no JSON
    /// array in a header may be longer), before anything is allocated for it.
    public static let maxRank = 64
    /// Longest tensor name, in UTF-8 bytes. Real names are under 200 bytes.
    public static let maxTensorNameBytes = 4096
    /// Longest `__metadata__` key or value, in UTF-8 bytes (training tools store JSON blobs of a
    /// few hundred kilobytes there; nothing legitimate comes near this).
    public static let maxMetadataStringBytes = 16 << 20
    /// The tensor count needs no limit of its own: every entry takes at least
    /// `{"":{"dtype":"U8","shape":[],"data_offsets":[0,0]}}`-many header bytes (about 50), so the
    /// header limit bounds it at about 2 million.
    public static let minEntryBytes = 50

    public let path: String
    public var format: CheckpointFormat { .safetensors }
    public let tensors: [TensorInfo]
    public let metadata: [String: String]
    public var fileSize: Int { file.size }
    /// Size of the JSON header in bytes (without the 8-byte length prefix).
    public let headerSize: Int

    private let file: MappedFile
    /// Tensor name -> its index in ``tensors`` and ``ranges`` (the header's one name index).
    private let names: SafetensorsNameIndex
    /// Byte range of each tensor's data inside the file, in the order of ``tensors``.
    private let ranges: [Range<Int>]

    public init(path: String) throws(CheckpointError) {
        self.path = path
        file = try MappedFile(path: path)
        let header = try SafetensorsHeader(file: file)
        headerSize = header.headerSize
        tensors = header.infos
        metadata = header.metadata
        ranges = header.fileRanges
        names = header.names
    }

    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let range = fileRange(of: tensor) else {
            throw CheckpointError.noSuchTensor(path: path, tensor: tensor.name)
        }
        return try body(file.bytes(in: range))
    }

    /// Byte range of `tensor`'s data in the file (for sequential-read advice and benchmarks).
    public func fileRange(of tensor: TensorInfo) -> Range<Int>? {
        let hint = Int(tensor.storageIndex)
        if hint >= 0, hint < tensors.count, tensors[hint].name == tensor.name { return ranges[hint] }
        return names.index(of: tensor.name) { tensors[$0].name }.map { ranges[$0] }
    }

    public func storedLocation(of tensor: TensorInfo) -> StoredLocation? {
        fileRange(of: tensor).map { StoredLocation(file: path, range: $0) }
    }

    /// The header's keys are checked for duplicates when it is parsed.
    public var namesAreDistinct: Bool { true }

    /// Tensors are views of the file's read-only mapping.
    public var bytesAreFileMapped: Bool { true }

    /// Advises the kernel that every tensor will be read in order.
    public func adviseSequentialRead() {
        file.adviseSequential(0..<file.size)
    }
}
