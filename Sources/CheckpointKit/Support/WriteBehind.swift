import Foundation
import Glibc

/// Starts the disk writes of a large output while it is still being produced: every 256 MiB a
/// background `fdatasync` flushes what is written so far, so that the final fsync (which makes the
/// output durable before its rename) waits only for the tail instead of the whole file.
final class WriteBehind: @unchecked Sendable {
    let descriptor: Int32
    private let queue = DispatchQueue(label: "ckpt.write-behind")
    private let lock = NSLock()
    private var inFlight = false
    private var flushedTo = 0
    static let step = 256 << 20

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Called after `offset` bytes are written.
    func wrote(upTo offset: Int) {
        lock.lock()
        defer { lock.unlock() }
        guard !inFlight, offset - flushedTo >= WriteBehind.step else { return }
        inFlight = true
        flushedTo = offset
        let fd = descriptor
        queue.async { [self] in
            _ = fdatasync(fd) // errors surface again at the final fsync
            lock.lock()
            inFlight = false
            lock.unlock()
        }
    }

    /// Waits for a background flush to end (before the descriptor is closed).
    func finish() {
        queue.sync {}
    }
}
