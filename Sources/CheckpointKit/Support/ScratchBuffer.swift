/// A growable buffer reused across tensors, so that a loop over a checkpoint allocates only when a
/// tensor is larger than every one before it (fresh anonymous memory costs a page fault per 4 KiB
/// on first touch, several times the cost of the work done on it).
///
/// Not thread-safe: each worker owns one, or borrows one from a ``BufferPool``.
final class ScratchBuffer {
    private(set) var storage: UnsafeMutableRawBufferPointer = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    init() {}

    /// A buffer of exactly `count` bytes (contents undefined), valid until the next call.
    func bytes(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if storage.count < count {
            storage.deallocate()
            storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 64), alignment: 64)
        }
        return UnsafeMutableRawBufferPointer(rebasing: storage[0..<count])
    }

    /// A buffer of exactly `count` Floats.
    func floats(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        let raw = bytes(count * 4)
        return raw.bindMemory(to: Float.self)
    }

    /// A buffer of exactly `count` Doubles.
    func doubles(_ count: Int) -> UnsafeMutableBufferPointer<Double> {
        let raw = bytes(count * 8)
        return raw.bindMemory(to: Double.self)
    }

    deinit { storage.deallocate() }
}
