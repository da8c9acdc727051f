/// Buffers one diff worker reuses for every tensor it processes, so that the hot loop never
/// allocates: fresh anonymous memory costs a page fault per 4 KiB on first touch (about 0.5 GB/s
/// in this VM), several times the cost of the arithmetic.
///
/// The four block buffers have one fixed size and are allocated once, so they need none of
/// ``ScratchBuffer``'s growing (and the kernel reads them without a size check); the reordering
/// buffer, which grows with the tensors, is a ``ScratchBuffer``.
///
/// Not thread-safe: each worker owns one.
public final class DifferenceScratch {
    /// ``DifferenceKernel/blockSize`` decoded elements of each side.
    let baseFloats: UnsafeMutableBufferPointer<Float>
    let finetunedFloats: UnsafeMutableBufferPointer<Float>
    let baseDoubles: UnsafeMutableBufferPointer<Double>
    let finetunedDoubles: UnsafeMutableBufferPointer<Double>
    /// Holds one side of a pair rearranged into the other side's element order (a transposed TF
    /// kernel); grows to the largest such tensor and is then reused.
    private let reordered = ScratchBuffer()
    /// Hold one block of each side of a reordered pair in PyTorch's order (``ReorderedBlocks``):
    /// a few hundred KB each, so that the kernel reads what was just written from cache.
    private let baseBlock = ScratchBuffer()
    private let finetunedBlock = ScratchBuffer()
    /// Holds a chunk of the base converted to the fine-tune's dtype.
    private let converted = ScratchBuffer()

    public init() {
        let n = DifferenceKernel.blockSize
        baseFloats = .allocate(capacity: n)
        finetunedFloats = .allocate(capacity: n)
        baseDoubles = .allocate(capacity: n)
        finetunedDoubles = .allocate(capacity: n)
    }

    deinit {
        baseFloats.deallocate()
        finetunedFloats.deallocate()
        baseDoubles.deallocate()
        finetunedDoubles.deallocate()
    }

    /// The reordering buffer, with room for at least `byteCount` bytes.
    func reorderingBuffer(byteCount: Int) -> UnsafeMutableRawBufferPointer {
        reordered.bytes(byteCount)
    }

    /// The block buffer of the base (`base`) or of the fine-tune, with room for at least `byteCount` bytes.
    func blockBuffer(base: Bool, byteCount: Int) -> UnsafeMutableRawBufferPointer {
        (base ? baseBlock : finetunedBlock).bytes(byteCount)
    }

    /// The conversion buffer, with room for at least `byteCount` bytes.
    func conversionBuffer(byteCount: Int) -> UnsafeMutableRawBufferPointer {
        converted.bytes(byteCount)
    }
}
