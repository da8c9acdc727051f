/// A pair whose two sides store their elements in different orders (a TF kernel against a
/// PyTorch weight, ``ElementLayout``), walked in blocks of whole PyTorch rows: each reordered side
/// is rewritten one block at a time into a small per-worker buffer (``targetBytes`` a side) and
/// compared while that block is still in the core's cache, instead of reordering the whole tensor
/// into a buffer as large as the tensor and reading it back from memory.
///
/// Blocks start at multiples of ``DifferenceKernel/blockSize`` elements where a block of whole
/// rows can (every BERT-shaped kernel), so the kernel meets the same 4,096-element blocks as over
/// the whole reordered tensor and the sums come out the same, bit for bit.
enum ReorderedBlocks {
    /// Bytes of one side's block buffer: inside a core's L2 cache (2 MB here) with the other side's
    /// block. Measured on BERT-large kernels, 512 KB transposes 2x as fast as 64 KB (each source row
    /// is then read in runs of 128 B or more) and as fast as 1 MB.
    static let targetBytes = 512 << 10

    /// Whether `pair` is walked in blocks: a reordered side, both dtypes a whole number of bytes
    /// wide, and no resized rows (which shift each side's elements; those keep the whole-tensor path).
    static func applies(to pair: TensorPair) -> Bool {
        !pair.isDirect && pair.shapeChange == nil && pair.base.dtype.byteWidth != nil && pair.finetuned.dtype.byteWidth != nil
    }

    /// Elements of one block (the last of a range may be shorter): a multiple of both sides'
    /// ``ElementLayout/rowLength``, and of ``DifferenceKernel/blockSize`` when that keeps a block
    /// under four times `targetBytes`.
    static func blockElements(_ pair: TensorPair, targetBytes: Int = targetBytes) -> Int {
        let width = Swift.max(pair.base.dtype.byteWidth ?? 1, pair.finetuned.dtype.byteWidth ?? 1)
        let row = leastCommonMultiple(pair.baseLayout.rowLength, pair.finetunedLayout.rowLength)
        let kernelAligned = leastCommonMultiple(row, DifferenceKernel.blockSize)
        let step = kernelAligned * width <= 4 * targetBytes ? kernelAligned : row
        return Swift.max(1, targetBytes / (step * width)) * step
    }

    /// Calls `body` with each block of `elements` (PyTorch order) of both sides, in element
    /// order: a side stored in PyTorch's order is handed out in place, a reordered one from its
    /// block buffer in `scratch`. `base` and `finetuned` are the whole stored tensors; `elements`
    /// must start at a multiple of ``blockElements(_:targetBytes:)``.
    static func forEach(_ pair: TensorPair, elements: Range<Int>, base: UnsafeRawBufferPointer, finetuned: UnsafeRawBufferPointer,
                        scratch: DifferenceScratch, targetBytes: Int = targetBytes,
                        _ body: (_ base: UnsafeRawBufferPointer, _ finetuned: UnsafeRawBufferPointer, _ count: Int) throws -> Void) rethrows {
        let step = blockElements(pair, targetBytes: targetBytes)
        precondition(elements.lowerBound % step == 0)
        let baseWidth = pair.base.dtype.byteWidth!, finetunedWidth = pair.finetuned.dtype.byteWidth!
        var lower = elements.lowerBound
        while lower < elements.upperBound {
            let block = lower..<Swift.min(elements.upperBound, lower + step)
            let b = side(base, pair.baseLayout, width: baseWidth, block: block, buffer: { scratch.blockBuffer(base: true, byteCount: $0) })
            let f = side(finetuned, pair.finetunedLayout, width: finetunedWidth, block: block,
                         buffer: { scratch.blockBuffer(base: false, byteCount: $0) })
            try body(b, f, block.count)
            lower = block.upperBound
        }
    }

    /// One side's elements `block` in PyTorch's order.
    private static func side(_ bytes: UnsafeRawBufferPointer, _ layout: ElementLayout, width: Int, block: Range<Int>,
                             buffer: (Int) -> UnsafeMutableRawBufferPointer) -> UnsafeRawBufferPointer {
        guard layout != .identity else {
            return UnsafeRawBufferPointer(rebasing: bytes[(block.lowerBound * width)..<(block.upperBound * width)])
        }
        let destination = buffer(block.count * width)
        layout.toPyTorch(bytes, width: width, elements: block, into: destination)
        return UnsafeRawBufferPointer(destination)
    }

    static func leastCommonMultiple(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return a / x * b
    }
}
