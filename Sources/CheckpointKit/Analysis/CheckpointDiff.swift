import Foundation

/// A base checkpoint and a fine-tune compared parameter by parameter.
///
/// Tensors are paired by ``CheckpointAlignment`` (prefixes, legacy names, TF kernels), then streamed
/// one at a time through ``DifferenceKernel``: memory stays flat whatever the checkpoints' size.
/// Whole checkpoints are never loaded; from a memory-mapped file (safetensors) a worker reads one
/// chunk of at most ``Options/chunkElements`` elements per side at a time and hands the pages back
/// afterwards; from other readers (HDF5) one tensor per side at a time. Two workers share the pairs
/// (and the chunks of big tensors); chunk sums are merged in element order, so results do not
/// depend on scheduling.
public struct CheckpointDiff: Sendable {
    /// Tuning knobs of the pass.
    public struct Options: Sendable {
        /// Threads reading in parallel. Two streams already use most of the memory bandwidth of a
        /// typical machine.
        public var workers: Int = 2
        /// Elements per work item when splitting big tensors of memory-mapped checkpoints.
        public var chunkElements: Int = 1 << 22

        public init(workers: Int = 2, chunkElements: Int = 1 << 22) {
            self.workers = workers
            self.chunkElements = chunkElements
        }
    }

    /// How far a running diff has got, for progress displays.
    public struct Progress: Sendable {
        public var tensorsDone: Int
        public var tensorCount: Int
        /// Bytes of tensor data read so far and in total, both sides together.
        public var bytesDone: Int
        public var bytesTotal: Int
        /// Seconds since the pass started.
        public var elapsed: Double
    }

    public var basePath: String
    public var finetunedPath: String
    public var baseFormat: CheckpointFormat
    public var finetunedFormat: CheckpointFormat
    /// One entry per paired tensor, in the base's order.
    public var tensors: [TensorDifference]
    /// Tensors only the base has (dropped pretraining heads, buffers).
    public var onlyInBase: [TensorInfo]
    /// Tensors only the fine-tune has (a new task head).
    public var onlyInFinetuned: [TensorInfo]
    /// What pairing stripped from names (training wrappers, a found prefix), or its ambiguity.
    public var stripping = PrefixStripping()
    /// Bytes of tensor data compared, both sides together.
    public var bytesCompared: Int
    /// Wall-clock seconds the comparison took.
    public var seconds: Double

    /// Whether the checkpoints hold the same tensors with bitwise-equal contents: every pair
    /// identical and nothing on one side only.
    public var isIdentical: Bool {
        // Read in place by index: iterating copies every difference out.
        onlyInBase.isEmpty && onlyInFinetuned.isEmpty
            && tensors.withUnsafeBufferPointer { tensors in tensors.indices.allSatisfy { tensors[$0].isIdentical } }
    }

    /// Compares `finetuned` against `base`.
    /// - Parameters:
    ///   - renames: extra pairings, fine-tuned name -> base name (``CheckpointAlignment/loadRenames(path:)``).
    ///   - progress: called from worker threads (serialised) after each tensor completes.
    public init(base: any Checkpoint, finetuned: any Checkpoint, renames: [String: String] = [:],
                options: Options = Options(), progress: (@Sendable (Progress) -> Void)? = nil) throws {
        let start = Date()
        let alignment = CheckpointAlignment(base: base, finetuned: finetuned, renames: renames)
        let plan = DiffPlan(alignment: alignment, base: base, finetuned: finetuned, chunkElements: options.chunkElements)
        let state = DiffRun(plan: plan, start: start, progress: progress)
        let workers = max(1, min(options.workers, plan.items.count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            state.work(base: base, finetuned: finetuned)
        }
        if let error = state.firstError { throw error }

        tensors = state.differences
        HalfPrecisionRounding.apply(state.roundedSums, to: &tensors)
        basePath = base.path
        finetunedPath = finetuned.path
        baseFormat = base.format
        finetunedFormat = finetuned.format
        onlyInBase = alignment.onlyInBase
        onlyInFinetuned = alignment.onlyInFinetuned
        stripping = alignment.stripping
        bytesCompared = plan.totalBytes
        seconds = Date().timeIntervalSince(start)
    }
}
