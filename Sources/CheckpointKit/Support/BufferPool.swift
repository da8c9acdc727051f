/// One reusable ``ScratchBuffer``, lent to one reader at a time (a concurrent or nested reader gets
/// one of its own). The spare keeps the size of the largest tensor read, so reading tensor after
/// tensor does not pay for fresh pages each time.
final class BufferPool: @unchecked Sendable {
    private let lock = RecursiveLock()
    private var spare: ScratchBuffer?

    init() {}

    /// Calls `body` with a buffer of exactly `byteCount` bytes (contents undefined).
    func withBuffer<R>(byteCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        let lent = lock.withLock { () -> ScratchBuffer? in
            defer { spare = nil }
            return spare
        } ?? ScratchBuffer()
        defer {
            lock.withLock {
                // Keep the larger of the two when a concurrent reader returned one meanwhile.
                if spare == nil || spare!.storage.count < lent.storage.count { spare = lent }
            }
        }
        // At least one byte, so that even an empty tensor gets a non-null address.
        return try body(UnsafeMutableRawBufferPointer(rebasing: lent.bytes(max(byteCount, 1))[0..<byteCount]))
    }
}
