import CheckpointKit
import Foundation

/// A self-overwriting progress line on standard error ("diff: 45/391 tensors, 1.2 of 2.6 GB,
/// 6.1 GB/s"), redrawn at most ten times a second. Only created when stderr is a terminal.
final class ProgressLine: @unchecked Sendable {
    let label: String
    private let lock = NSLock()
    private var lastDraw = 0.0
    private var drawn = false

    init(label: String) {
        self.label = label
    }

    func update(_ progress: CheckpointDiff.Progress) {
        lock.lock()
        defer { lock.unlock() }
        let finished = progress.tensorsDone == progress.tensorCount
        guard finished || progress.elapsed - lastDraw >= 0.1 else { return }
        lastDraw = progress.elapsed
        let gigabytes = 1e9
        let rate = progress.elapsed > 0 ? Double(progress.bytesDone) / progress.elapsed / gigabytes : 0
        let text = String(format: "%@: %d/%d tensors, %.2f of %.2f GB, %.1f GB/s", label, progress.tensorsDone, progress.tensorCount,
                          Double(progress.bytesDone) / gigabytes, Double(progress.bytesTotal) / gigabytes, rate)
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
        drawn = true
    }

    /// Erases the line so that the report starts on a clean line.
    func clear() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
