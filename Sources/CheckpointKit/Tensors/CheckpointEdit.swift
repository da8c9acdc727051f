/// How a modified copy of a checkpoint differs from the checkpoint: tensors whose bytes (and maybe
/// dtype) are replaced, and tensors appended. Written by ``Checkpoint/writeModifiedCopy(_:to:verify:)``.
///
/// Bytes come from closures, called once each while the copy is written, so that only one tensor
/// is held in memory at a time.
public struct CheckpointEdit {
    /// Produces a tensor's raw little-endian bytes by calling `consume` one or more times (exactly
    /// the tensor's byte count in all).
    public typealias Bytes = (_ consume: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

    /// One tensor of the copy that is not taken from the checkpoint as it is.
    public struct Tensor {
        /// Name (a replaced tensor keeps the checkpoint's name), dtype, shape and byte count.
        public var info: TensorInfo
        public var bytes: Bytes

        public init(info: TensorInfo, bytes: @escaping Bytes) {
            self.info = info
            self.bytes = bytes
        }
    }

    /// What a format can write into a modified copy. A copy that asks for more is refused before
    /// anything is written.
    public struct Capabilities: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        /// Tensors can be appended.
        public static let addsTensors = Capabilities(rawValue: 1 << 0)
        /// A replaced tensor may have another dtype (and byte count) than the original.
        public static let changesDTypes = Capabilities(rawValue: 1 << 1)
    }

    /// What writing the copy did.
    public struct Result: Sendable {
        /// Bytes written: the whole file for a streamed copy, the replaced tensors' bytes for a copy
        /// modified in place.
        public var bytes: Int
        /// Seconds spent streaming the output into its temporary file (before fsync, the check
        /// and the rename); nil when the format does not stream.
        public var streamingSeconds: Double?

        public init(bytes: Int, streamingSeconds: Double?) {
            self.bytes = bytes
            self.streamingSeconds = streamingSeconds
        }
    }

    /// Replaced tensors, in the order their bytes are produced.
    public var replaced: [Tensor]
    /// Appended tensors, in order.
    public var added: [Tensor]
    /// Testing aid: fail the write as a full disk would once this many bytes were written (streamed
    /// copies only).
    public var simulatedWriteFailureAfterBytes: Int?

    public init(replaced: [Tensor] = [], added: [Tensor] = [], simulatedWriteFailureAfterBytes: Int? = nil) {
        self.replaced = replaced
        self.added = added
        self.simulatedWriteFailureAfterBytes = simulatedWriteFailureAfterBytes
    }
}
