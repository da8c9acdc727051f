/// A readable set of named tensors: one safetensors file, a sharded set, or an HDF5 file.
///
/// Readers list every tensor up front from the header alone, and hand out one tensor's bytes at a
/// time, so that analyses can stream over checkpoints larger than memory.
public protocol Checkpoint: AnyObject, Sendable {
    /// The path the user named (file, index file or directory).
    var path: String { get }
    var format: CheckpointFormat { get }
    /// Every tensor, in the order the file stores them.
    var tensors: [TensorInfo] { get }
    /// Free-form string metadata (safetensors `__metadata__`, HDF5 root attributes).
    var metadata: [String: String] { get }
    /// Total size of the files on disk, in bytes.
    var fileSize: Int { get }

    /// Calls `body` with the raw little-endian bytes of `tensor`, laid out row-major in the tensor's
    /// own dtype. The buffer is only valid inside `body`, and is not necessarily aligned.
    func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R

    // The members below have defaults (a reader that knows nothing more conforms without them).

    /// Every file the checkpoint reads: the one the user named first (an index), then the rest (its
    /// shards). An output must never be one of them. Default: `[path]`.
    var files: [String] { get }
    /// Where `tensor`'s bytes lie in a file, when they are stored there exactly as ``withBytes(of:_:)``
    /// hands them out (so a writer may copy them file to file). Default: nil (unknown or not raw).
    func storedLocation(of tensor: TensorInfo) -> StoredLocation?
    /// Whether ``withBytes(of:_:)`` hands out views of a read-only file mapping rather than a copy:
    /// any slice of a tensor can then be read at no extra cost (so big tensors can be split between
    /// workers), and pages already read can be handed back with ``MappedPages/release(_:)``. A
    /// conforming type that says true keeps the mapping for its whole lifetime, so a view stays valid
    /// after the closure returns for as long as the checkpoint is retained (``HalfPrecisionGEMM``
    /// keeps such views instead of widening BF16/F16 weights). Default: false.
    var bytesAreFileMapped: Bool { get }
    /// Whether no two of ``tensors`` share a name, as the format guarantees (a safetensors header
    /// refuses duplicate keys): pairing may then match equal names at equal positions without a
    /// name index. Default: false.
    var namesAreDistinct: Bool { get }
    /// Objects of the file that are not read as tensors, in file order, with the reason. Default: none.
    var skipped: [SkippedObject] { get }
    /// The `__metadata__` a safetensors copy of this checkpoint carries. Default: ``metadata``; a
    /// reader whose metadata describes the file itself (a sharded index's `total_size`, a pickle's
    /// shared storages) gives only what still holds for the copy.
    var copyMetadata: [String: String] { get }
    /// What ``writeModifiedCopy(_:to:verify:)`` can write. Default: everything.
    var editCapabilities: CheckpointEdit.Capabilities { get }
    /// Writes a copy of the checkpoint with `edit` applied to `output`, atomically (temporary file,
    /// fsync, rename); `verify` runs on the complete temporary file before it replaces `output`.
    /// Default: a safetensors file in this checkpoint's tensor order with the edit's tensors appended
    /// (a format that can rewrite itself, such as HDF5, writes its own format instead).
    func writeModifiedCopy(_ edit: CheckpointEdit, to output: String,
                           verify: (_ temporaryPath: String) throws -> Void) throws -> CheckpointEdit.Result
}

extension Checkpoint {
    public var files: [String] { [path] }
    public func storedLocation(of tensor: TensorInfo) -> StoredLocation? { nil }
    public var bytesAreFileMapped: Bool { false }
    public var skipped: [SkippedObject] { [] }
    public var namesAreDistinct: Bool { false }
    public var copyMetadata: [String: String] { metadata }
    public var editCapabilities: CheckpointEdit.Capabilities { [.addsTensors, .changesDTypes] }
}

extension Checkpoint {
    /// The tensor called `name`, if the checkpoint has one.
    public func tensor(named name: String) -> TensorInfo? {
        tensors.first { $0.name == name }
    }

    /// Total number of elements over every tensor.
    public var elementCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }
}
