import Glibc

/// Everything that can be wrong with a checkpoint a user hands us. Each case names the file and,
/// where there is one, the tensor, so that the one-line message is enough to find the problem.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The path does not exist or cannot be opened.
    case cannotOpen(path: String, reason: String)
    /// The file is not in any format we read.
    case unrecognizedFormat(path: String, reason: String)
    /// The file is a Git LFS pointer, not the weights it points to.
    case gitLFSPointer(path: String)
    /// The file is an HTML page (a failed download saved under the weights' name).
    case htmlPage(path: String)
    /// The file is shorter than its own header says.
    case truncated(path: String, reason: String)
    /// The header is not what the format's specification allows.
    case invalidHeader(path: String, reason: String)
    /// One tensor's entry is invalid.
    case invalidTensor(path: String, tensor: String, reason: String)
    /// A dtype name the safetensors specification does not define.
    case unknownDType(path: String, tensor: String, dtype: String)
    /// A sharded index names a shard file that is not there.
    case missingShard(path: String, shard: String)
    /// A directory that holds no weights in any format we read.
    case noWeights(path: String)
    /// A tensor was asked for that the checkpoint does not have.
    case noSuchTensor(path: String, tensor: String)
    /// An analysis was asked of a dtype it cannot decode (packed F4/F6, complex).
    case unsupportedDType(path: String, tensor: String, dtype: DType, operation: String)
    /// libhdf5 reported a failure. `object` is the group, dataset or attribute path inside the file
    /// ("" for the file itself); `operation` says what was being done and libhdf5's own reason.
    case hdf5(path: String, object: String, operation: String)
    /// An HDF5 dataset is compressed with a filter (`filter` is its registered id, `name` its name)
    /// that the libhdf5 here has no plugin for, so its data cannot be decoded.
    case unavailableFilter(path: String, dataset: String, filter: Int, name: String)
    /// New data for a tensor does not fit it (wrong byte count, a value its type cannot hold), or
    /// the named object cannot be replaced.
    case invalidReplacement(path: String, tensor: String, reason: String)
    /// Writing an output failed.
    case writeFailed(path: String, reason: String)
    /// A pickle names a global outside the allow-list (`posix.system`): nothing is run.
    case refusedPickleGlobal(path: String, global: String)
    /// A pickle that is malformed or builds something a checkpoint is not made of.
    case invalidPickle(path: String, reason: String)
    /// A PyTorch file in the legacy (before 1.6) format or a bare pickle, not a `torch.save` zip.
    case legacyPyTorch(path: String)
    /// A training checkpoint has no entry under the key asked for; `available` lists its keys.
    case missingKey(path: String, key: String, available: [String])

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "\(path): cannot open: \(reason)"
        case let .unrecognizedFormat(path, reason):
            return "\(path): not a checkpoint ckpt can read: \(reason)"
        case let .gitLFSPointer(path):
            return "\(path): this is a Git LFS pointer file, not the weights; run `git lfs pull` (or download the file itself)"
        case let .htmlPage(path):
            return "\(path): this is an HTML page, not weights; the download probably failed (log-in or error page)"
        case let .truncated(path, reason):
            return "\(path): truncated: \(reason); the file is incomplete (interrupted download or copy?)"
        case let .invalidHeader(path, reason):
            return "\(path): invalid header: \(reason)"
        case let .invalidTensor(path, tensor, reason):
            return "\(path): tensor '\(tensor)': \(reason)"
        case let .unknownDType(path, tensor, dtype):
            return "\(path): tensor '\(tensor)': unknown dtype '\(dtype)'"
        case let .missingShard(path, shard):
            return "\(path): shard '\(shard)' named in the index is missing"
        case let .noWeights(path):
            return "\(path): no weights found (looked for *.safetensors, *.safetensors.index.json, *.h5, pytorch_model.bin)"
        case let .noSuchTensor(path, tensor):
            return "\(path): no tensor named '\(tensor)'"
        case let .unsupportedDType(path, tensor, dtype, operation):
            return "\(path): tensor '\(tensor)': \(operation) does not support dtype \(dtype.rawValue)"
        case let .hdf5(path, object, operation):
            return "\(path): HDF5 error\(object.isEmpty ? "" : " in '\(object)'"): \(operation)"
        case let .unavailableFilter(path, dataset, filter, name):
            return "\(path): dataset '\(dataset)' is compressed with filter \(filter) (\(name)), which libhdf5 here cannot decode (not installed)"
        case let .invalidReplacement(path, tensor, reason):
            return "\(path): cannot replace tensor '\(tensor)': \(reason)"
        case let .writeFailed(path, reason):
            return "\(path): cannot write: \(reason)"
        case let .refusedPickleGlobal(path, global):
            return "\(path): refuses to run `\(global)` (pickle global); only tensor data is read"
        case let .invalidPickle(path, reason):
            return "\(path): invalid pickle: \(reason); only tensor data is read"
        case let .legacyPyTorch(path):
            return "\(path): a legacy PyTorch file (torch.save before 1.6, or a bare pickle), which is not read; re-save it with torch >= 1.6 (or as safetensors)"
        case let .missingKey(path, key, available):
            return "\(path): no dict under key '\(key)' (top-level keys: \(available.isEmpty ? "none" : available.joined(separator: ", ")))"
        }
    }
}

extension CheckpointError {
    /// The reason for a failed write, from its `errno`, for ``writeFailed(path:reason:)``. Mostly
    /// `strerror`'s text; EFBIG gets its cause spelled out, because "File too large" alone reads
    /// like a complaint about the input, while it means the output reached the process's file size
    /// limit (`ulimit -f`, which `ckpt` turns from a silent SIGXFSZ kill into this error) or the
    /// largest file the file system can hold.
    public static func writeReason(errno code: Int32) -> String {
        switch code {
        case EFBIG:
            return "File too large (the file size limit, `ulimit -f`, or the file system's largest file size was reached)"
        default:
            return String(cString: strerror(code))
        }
    }
}

extension CheckpointError: CategorizedError {
    public var category: FailureCategory {
        switch self {
        case .writeFailed: return .io
        case .noSuchTensor: return .mismatch
        default: return .badInput
        }
    }
}
