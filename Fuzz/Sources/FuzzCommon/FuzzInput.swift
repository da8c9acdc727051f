import CheckpointKit
import Foundation

/// Helpers shared by the fuzz targets: the readers take paths (they mmap), so each input is
/// written to a per-process file in /dev/shm (memory, not disk) first.
public enum FuzzInput {
    static let directory: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let path = "\(base)/ckpt-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// Writes the input to `name` inside the process's scratch directory and returns the path.
    public static func write(_ start: UnsafeRawPointer, _ count: Int, name: String) -> String {
        let path = directory + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes: start, count: count))
        return path
    }

    /// A path in the process's scratch directory for an output.
    public static func scratchPath(_ name: String) -> String { directory + "/" + name }

    /// Reads every tensor the way an analysis would: decode what is decodable (bounded in size),
    /// and summarise; every error must be a typed CheckpointError.
    public static func exercise(_ checkpoint: any Checkpoint) {
        _ = CheckpointSummary(checkpoint)
        for tensor in checkpoint.tensors where tensor.dtype.isDecodable && tensor.elementCount <= 1 << 20 {
            _ = try? TensorDecoder.doubles(of: tensor, in: checkpoint)
        }
    }

    /// Fails the run (libFuzzer reports it as a crash) when an error is not one of ours.
    public static func requireTyped(_ error: Error) {
        guard error is CategorizedError else {
            fatalError("untyped error escaped: \(error)")
        }
    }
}
