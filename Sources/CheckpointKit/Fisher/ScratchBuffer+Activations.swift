/// The Fisher pass's use of ``ScratchBuffer``: activations and gradients of `Float`, sized once per
/// batch (``reserve(_:)``, which grows only for a batch larger than every one before it) and then
/// addressed by the kernels through ``pointer``.
extension ScratchBuffer {
    /// A buffer already sized for `count` Floats, for one that keeps its size from batch to batch.
    convenience init(floats count: Int) {
        self.init()
        reserve(count)
    }

    /// Grows (without keeping the contents) to hold at least `count` Floats, and at least one so
    /// that ``pointer`` is never null.
    func reserve(_ count: Int) {
        _ = floats(max(count, 1))
    }

    /// The buffer's first Float; valid until a ``reserve(_:)`` that grows it.
    var pointer: UnsafeMutablePointer<Float> {
        storage.baseAddress!.assumingMemoryBound(to: Float.self)
    }
}
