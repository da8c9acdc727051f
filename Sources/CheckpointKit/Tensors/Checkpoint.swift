/// The on-disk family a checkpoint was read from.
public enum CheckpointFormat: String, Sendable, Codable {
    case safetensors
    case shardedSafetensors = "safetensors-sharded"
    /// Hugging Face's legacy TensorFlow `tf_model.h5` (root attribute `layer_names`).
    case huggingFaceTFH5 = "hdf5-tf-model"
    /// Keras 2 full-model `.h5` (`model_weights/` group).
    case keras2H5 = "hdf5-keras2"
    /// Keras 3 `.weights.h5` (`layers/<name>/vars/<i>`).
    case keras3WeightsH5 = "hdf5-keras3"
    /// Any other HDF5 file: every dataset is a tensor.
    case hdf5 = "hdf5"

    /// Whether the format is one of the HDF5 layouts.
    public var isHDF5: Bool {
        switch self {
        case .safetensors, .shardedSafetensors: return false
        default: return true
        }
    }
}

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
}

extension Checkpoint {
    /// The tensor called `name`, if the checkpoint has one.
    public func tensor(named name: String) -> TensorInfo? {
        tensors.first { $0.name == name }
    }

    /// Total number of elements over every tensor.
    public var elementCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }
}
