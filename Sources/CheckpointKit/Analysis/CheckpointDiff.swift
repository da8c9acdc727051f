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
    /// Bytes of tensor data compared, both sides together.
    public var bytesCompared: Int
    /// Wall-clock seconds the comparison took.
    public var seconds: Double

    /// Whether the checkpoints hold the same tensors with bitwise-equal contents: every pair
    /// identical and nothing on one side only.
    public var isIdentical: Bool {
        onlyInBase.isEmpty && onlyInFinetuned.isEmpty && tensors.allSatisfy(\.isIdentical)
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

        var tensors: [TensorDifference] = []
        tensors.reserveCapacity(alignment.pairs.count)
        for (index, pair) in alignment.pairs.enumerated() {
            let verdict = plan.verdicts[index]
            switch verdict {
            case let .notCompared(problem):
                tensors.append(TensorDifference(pair: pair, sums: nil, problem: problem))
            case let .bytesOnly(problem):
                tensors.append(TensorDifference(pair: pair, sums: nil, problem: problem, bytesEqual: state.bytesEqual[index]))
            case .numeric:
                var sums = DifferenceSums()
                for item in plan.itemsOfPair[index] { sums.merge(state.results[item]) }
                tensors.append(TensorDifference(pair: pair, sums: sums, problem: nil))
            }
        }
        self.tensors = tensors
        basePath = base.path
        finetunedPath = finetuned.path
        baseFormat = base.format
        finetunedFormat = finetuned.format
        onlyInBase = alignment.onlyInBase
        onlyInFinetuned = alignment.onlyInFinetuned
        bytesCompared = plan.totalBytes
        seconds = Date().timeIntervalSince(start)
    }
}

/// What will be done with each pair, and the work items the pairs are cut into.
struct DiffPlan: Sendable {
    enum Verdict: Sendable {
        /// Compared element by element.
        case numeric
        /// Only raw bytes compared (a dtype that cannot be decoded); the problem says so.
        case bytesOnly(String)
        /// Not compared at all (shape mismatch, undecodable mixed dtypes).
        case notCompared(String)
    }

    /// A contiguous range of one pair's elements, processed by one worker in one go.
    struct Item: Sendable {
        var pair: Int
        var elements: Range<Int>
        /// Bytes read from both sides.
        var bytes: Int
    }

    var pairs: [TensorPair]
    var verdicts: [Verdict]
    var items: [Item]
    /// Indices into ``items`` of each pair's items, in element order.
    var itemsOfPair: [[Int]]
    var totalBytes: Int
    var baseIsMapped: Bool
    var finetunedIsMapped: Bool

    init(alignment: CheckpointAlignment, base: any Checkpoint, finetuned: any Checkpoint, chunkElements: Int) {
        pairs = alignment.pairs
        baseIsMapped = base.bytesAreFileMapped
        finetunedIsMapped = finetuned.bytesAreFileMapped
        verdicts = []
        items = []
        itemsOfPair = []
        totalBytes = 0
        for (index, pair) in pairs.enumerated() {
            var ids: [Int] = []
            defer { itemsOfPair.append(ids) }
            let bytes = pair.base.byteCount + pair.finetuned.byteCount
            if let problem = pair.problem {
                verdicts.append(.notCompared(problem))
                continue
            }
            guard pair.base.dtype.isDecodable, pair.finetuned.dtype.isDecodable else {
                let undecodable = pair.base.dtype.isDecodable ? pair.finetuned.dtype : pair.base.dtype
                if pair.base.dtype == pair.finetuned.dtype, pair.isDirect {
                    verdicts.append(.bytesOnly("\(undecodable.rawValue) values are not decoded; only bytes compared"))
                    ids.append(items.count)
                    items.append(Item(pair: index, elements: 0..<pair.base.elementCount, bytes: bytes))
                    totalBytes += bytes
                } else {
                    verdicts.append(.notCompared("\(undecodable.rawValue) values cannot be compared (\(pair.base.dtype.rawValue) in base vs \(pair.finetuned.dtype.rawValue) in fine-tune)"))
                }
                continue
            }
            verdicts.append(.numeric)
            totalBytes += bytes
            let count = pair.base.elementCount
            let splittable = pair.isDirect && baseIsMapped && finetunedIsMapped && chunkElements > 0
            if !splittable || count <= chunkElements {
                ids.append(items.count)
                items.append(Item(pair: index, elements: 0..<count, bytes: bytes))
                continue
            }
            var lower = 0
            while lower < count {
                let upper = min(count, lower + chunkElements)
                ids.append(items.count)
                let fraction = Double(upper - lower) / Double(count)
                items.append(Item(pair: index, elements: lower..<upper, bytes: Int(Double(bytes) * fraction)))
                lower = upper
            }
        }
    }
}

/// The shared state of one diff pass: the queue of work items, the results, progress and the first
/// error. Every mutable field is guarded by `lock`.
final class DiffRun: @unchecked Sendable {
    let plan: DiffPlan
    let start: Date
    let progress: (@Sendable (CheckpointDiff.Progress) -> Void)?
    private let lock = NSLock()
    private var next = 0
    private(set) var results: [DifferenceSums]
    private(set) var bytesEqual: [Int: Bool] = [:]
    private(set) var firstError: Error?
    private var remainingItems: [Int]
    private var tensorsDone = 0
    private var bytesDone = 0

    init(plan: DiffPlan, start: Date, progress: (@Sendable (CheckpointDiff.Progress) -> Void)?) {
        self.plan = plan
        self.start = start
        self.progress = progress
        results = Array(repeating: DifferenceSums(), count: plan.items.count)
        remainingItems = plan.itemsOfPair.map(\.count)
        tensorsDone = remainingItems.filter { $0 == 0 }.count
    }

    /// Takes work items until none is left or a worker failed.
    func work(base: any Checkpoint, finetuned: any Checkpoint) {
        let scratch = DifferenceScratch()
        while let index = take() {
            let item = plan.items[index]
            do {
                let pair = plan.pairs[item.pair]
                if case .bytesOnly = plan.verdicts[item.pair] {
                    let equal = try compareBytes(pair, base: base, finetuned: finetuned)
                    finish(index, sums: DifferenceSums(), bytesEqual: equal)
                } else {
                    let sums = try accumulate(pair, elements: item.elements, base: base, finetuned: finetuned, scratch: scratch)
                    finish(index, sums: sums, bytesEqual: nil)
                }
            } catch {
                fail(error)
                return
            }
        }
    }

    private func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard firstError == nil, next < plan.items.count else { return nil }
        next += 1
        return next - 1
    }

    private func fail(_ error: Error) {
        lock.lock()
        if firstError == nil { firstError = error }
        lock.unlock()
    }

    private func finish(_ index: Int, sums: DifferenceSums, bytesEqual equal: Bool?) {
        let item = plan.items[index]
        lock.lock()
        results[index] = sums
        if let equal { bytesEqual[item.pair] = equal }
        bytesDone += item.bytes
        remainingItems[item.pair] -= 1
        if remainingItems[item.pair] == 0 { tensorsDone += 1 }
        let report = CheckpointDiff.Progress(tensorsDone: tensorsDone, tensorCount: plan.pairs.count,
                                             bytesDone: bytesDone, bytesTotal: plan.totalBytes,
                                             elapsed: Date().timeIntervalSince(start))
        if let progress { progress(report) }
        lock.unlock()
    }

    /// Runs the kernel over `elements` of one pair, reordering a transposed side first.
    private func accumulate(_ pair: TensorPair, elements: Range<Int>, base: any Checkpoint, finetuned: any Checkpoint,
                            scratch: DifferenceScratch) throws -> DifferenceSums {
        let baseWidth = pair.base.dtype.bitWidth / 8
        let finetunedWidth = pair.finetuned.dtype.bitWidth / 8
        return try base.withBytes(of: pair.base) { baseBytes in
            try finetuned.withBytes(of: pair.finetuned) { finetunedBytes in
                var b = slice(baseBytes, elements, width: baseWidth)
                var f = slice(finetunedBytes, elements, width: finetunedWidth)
                if case let .transposed(rows, columns) = pair.baseLayout {
                    b = reorder(b, rows: rows, columns: columns, width: baseWidth, scratch: scratch)
                }
                if case let .transposed(rows, columns) = pair.finetunedLayout {
                    f = reorder(f, rows: rows, columns: columns, width: finetunedWidth, scratch: scratch)
                }
                let sums = DifferenceKernel.accumulate(base: b, pair.base.dtype, finetuned: f, pair.finetuned.dtype,
                                                       count: elements.count, scratch: scratch)
                if plan.baseIsMapped { MappedPages.release(slice(baseBytes, elements, width: baseWidth)) }
                if plan.finetunedIsMapped { MappedPages.release(slice(finetunedBytes, elements, width: finetunedWidth)) }
                return sums
            }
        }
    }

    private func slice(_ bytes: UnsafeRawBufferPointer, _ elements: Range<Int>, width: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[(elements.lowerBound * width)..<(elements.upperBound * width)])
    }

    private func reorder(_ bytes: UnsafeRawBufferPointer, rows: Int, columns: Int, width: Int, scratch: DifferenceScratch) -> UnsafeRawBufferPointer {
        let buffer = scratch.reorderingBuffer(byteCount: bytes.count)
        ElementTransposition.transpose(bytes, rows: rows, columns: columns, width: width, into: buffer)
        return UnsafeRawBufferPointer(buffer)
    }

    private func compareBytes(_ pair: TensorPair, base: any Checkpoint, finetuned: any Checkpoint) throws -> Bool {
        try base.withBytes(of: pair.base) { b in
            try finetuned.withBytes(of: pair.finetuned) { f in
                b.count == f.count && (b.count == 0 || memcmp(b.baseAddress!, f.baseAddress!, b.count) == 0)
            }
        }
    }
}
