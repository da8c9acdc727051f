import CKernels
import Foundation

/// The shared state of one ``ValuesSummary`` pass: the queue of work items, their results and the
/// first error. Every mutable field is guarded by `lock`.
final class ValuesRun: @unchecked Sendable {
    let checkpoint: any Checkpoint
    let items: [ValuesSummary.Item]
    private let lock = NSLock()
    private var next = 0
    var results: [ckpt_value_stats]
    private(set) var firstError: Error?

    init(checkpoint: any Checkpoint, items: [ValuesSummary.Item]) {
        self.checkpoint = checkpoint
        self.items = items
        results = Array(repeating: ckpt_value_stats_empty(), count: items.count)
    }

    /// Takes work items until none is left or a worker failed.
    func work() {
        let doubles = UnsafeMutableBufferPointer<Double>.allocate(capacity: DifferenceKernel.blockSize)
        defer { doubles.deallocate() }
        while let index = take() {
            do {
                let stats = try read(items[index], doubles: doubles)
                lock.lock()
                results[index] = stats
                lock.unlock()
            } catch {
                lock.lock()
                if firstError == nil { firstError = error }
                lock.unlock()
                return
            }
        }
    }

    private func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard firstError == nil, next < items.count else { return nil }
        next += 1
        return next - 1
    }

    /// The statistics of one item, straight from the file bytes where the kernel reads the dtype.
    private func read(_ item: ValuesSummary.Item, doubles: UnsafeMutableBufferPointer<Double>) throws -> ckpt_value_stats {
        let tensor = checkpoint.tensors[item.tensor]
        let width = tensor.dtype.bitWidth / 8
        return try checkpoint.withBytes(of: tensor) { bytes in
            let slice = UnsafeRawBufferPointer(rebasing: bytes[(item.elements.lowerBound * width)..<(item.elements.upperBound * width)])
            var stats = ckpt_value_stats_empty()
            TensorValueStats.accumulate(slice, tensor.dtype, count: item.elements.count, doubles: doubles, into: &stats)
            if checkpoint.bytesAreFileMapped { MappedPages.release(slice) }
            return stats
        }
    }
}
