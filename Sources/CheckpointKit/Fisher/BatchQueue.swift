import Foundation

/// The batches of a Fisher run, handed out one at a time to the workers that compute them
/// (``FisherEstimator``), and the progress they report: any worker takes the next batch when it is
/// free, so a slow batch (long examples, a busy core) does not hold the others back.
final class BatchQueue: @unchecked Sendable {
    private let lock = NSLock()
    private let batches: [Range<Int>]
    private let total: Int
    private let progress: ((Int, Int) -> Void)?
    private var nextIndex = 0
    private var done = 0

    /// `batches`: ranges of example indices; `progress` is called (one call at a time) with
    /// (examples done, `total`) after each batch.
    init(batches: [Range<Int>], total: Int, progress: ((Int, Int) -> Void)?) {
        self.batches = batches
        self.total = total
        self.progress = progress
    }

    /// The next batch nobody has taken, or nil when all are taken.
    func next() -> Range<Int>? {
        lock.lock()
        defer { lock.unlock() }
        guard nextIndex < batches.count else { return nil }
        nextIndex += 1
        return batches[nextIndex - 1]
    }

    /// Records a finished batch of `count` examples and reports the progress.
    func finished(_ count: Int) {
        lock.lock()
        defer { lock.unlock() }
        done += count
        progress?(done, total)
    }
}
