import Foundation

extension Array {
    /// `(0..<count).map(element)`, computed on every core when `count` is at least
    /// `minimumParallelCount`: per-tensor bookkeeping (pairing 100,000 tensors of a mixture-of-
    /// experts checkpoint) is independent from one index to the next. The indices are cut into
    /// contiguous runs, several a core, which the cores take as they come free (so a core slowed
    /// by something else does not hold the others up); the result is the same as the serial map.
    /// `element` must be safe to call from several threads at once.
    init(parallelMapping count: Int, minimumParallelCount: Int = 8_192, _ element: (Int) -> Element) {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard count >= minimumParallelCount, cores > 1 else {
            self = (0..<count).map(element)
            return
        }
        self.init(unsafeUninitializedCapacity: count) { buffer, initialized in
            // Each run initializes its own indices only; `concurrentPerform` returns when all are done.
            nonisolated(unsafe) let base = buffer.baseAddress!
            let runs = Swift.min(8 * cores, count)
            withoutActuallyEscaping(element) { element in
                nonisolated(unsafe) let element = element
                DispatchQueue.concurrentPerform(iterations: runs) { run in
                    for index in (count * run / runs)..<(count * (run + 1) / runs) {
                        (base + index).initialize(to: element(index))
                    }
                }
            }
            initialized = count
        }
    }
}
