import CKernels
import Foundation

/// The values of every tensor of one checkpoint, read once: `ckpt inspect --values`.
///
/// Streams like ``CheckpointDiff``: two workers take tensors (and chunks of at most
/// ``chunkElements`` elements of big tensors in a memory-mapped file) from a shared queue, run the
/// `CKernels` statistics kernel straight over the file bytes (F32, F16, BF16, F64; other dtypes
/// are decoded block by block) and hand the pages back; chunk results are merged in element
/// order, so the numbers do not depend on scheduling. Memory stays flat whatever the file's size.
public struct ValuesSummary: Sendable, Encodable {
    public var path: String
    /// One entry per tensor, in the checkpoint's order.
    public var tensors: [TensorValueStats]
    /// Bytes of tensor data read.
    public var bytesRead: Int
    /// Wall-clock seconds the pass took.
    public var seconds: Double

    /// Elements per work item when a big tensor of a memory-mapped file is split.
    public static let chunkElements = 1 << 22

    /// Reads every tensor of `checkpoint` with `workers` threads.
    public init(_ checkpoint: any Checkpoint, workers: Int = 2) throws {
        let start = Date()
        let items = Self.items(checkpoint)
        let run = ValuesRun(checkpoint: checkpoint, items: items)
        DispatchQueue.concurrentPerform(iterations: Swift.max(1, Swift.min(workers, items.count))) { _ in run.work() }
        if let error = run.firstError { throw error }
        var merged = checkpoint.tensors.map { _ in ckpt_value_stats_empty() }
        for (index, item) in items.enumerated() { ckpt_value_stats_merge(&merged[item.tensor], &run.results[index]) }
        tensors = checkpoint.tensors.enumerated().map { index, tensor in
            tensor.dtype.isDecodable ? TensorValueStats(tensor, merged[index])
                : TensorValueStats(tensor, problem: "\(tensor.dtype.rawValue) values are not decoded")
        }
        path = checkpoint.path
        bytesRead = items.map(\.bytes).reduce(0, +)
        seconds = Date().timeIntervalSince(start)
    }

    /// Tensors holding NaN or infinity, in the checkpoint's order.
    public var damaged: [TensorValueStats] { tensors.filter { $0.nan + $0.infinite > 0 } }

    enum CodingKeys: String, CodingKey {
        case path, tensors, seconds, nan, inf, zeros
        case bytesRead = "bytes_read", damagedTensors = "damaged_tensors"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(tensors, forKey: .tensors)
        try c.encode(tensors.map(\.nan).reduce(0, +), forKey: .nan)
        try c.encode(tensors.map(\.infinite).reduce(0, +), forKey: .inf)
        try c.encode(tensors.map(\.zeros).reduce(0, +), forKey: .zeros)
        try c.encode(damaged.map(\.name), forKey: .damagedTensors)
        try c.encode(bytesRead, forKey: .bytesRead)
        try c.encode(seconds, forKey: .seconds)
    }

    /// A contiguous range of one tensor's elements, read by one worker in one go.
    struct Item: Sendable {
        var tensor: Int
        var elements: Range<Int>
        var bytes: Int
    }

    /// The work items: one per decodable tensor, or chunks of a big tensor when the file is mapped
    /// (another reader would read the whole tensor for each chunk).
    static func items(_ checkpoint: any Checkpoint) -> [Item] {
        var items: [Item] = []
        let splittable = checkpoint.bytesAreFileMapped
        for (index, tensor) in checkpoint.tensors.enumerated() where tensor.dtype.isDecodable {
            let count = tensor.elementCount
            let step = splittable ? chunkElements : Swift.max(count, 1)
            var lower = 0
            repeat {
                let upper = Swift.min(count, lower + step)
                items.append(Item(tensor: index, elements: lower..<upper, bytes: (upper - lower) * tensor.dtype.bitWidth / 8))
                lower = upper
            } while lower < count
        }
        return items
    }
}
