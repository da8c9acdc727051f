import Foundation

/// Rows of an embedding table that fine-tuning changed, counted during the diff pass.
///
/// A full fine-tune leaves the rows of tokens absent from the training data bit-identical (their
/// gradient is zero; with weight decay off, AdamW never moves them), so row-level counts tell
/// "untouched vocabulary" apart from a sparse update. Counted only for embedding tables (2-D, same
/// dtype on both sides, same element order): one `memcmp` per row, and none when a chunk changed
/// nowhere or everywhere, which the kernel's element count already tells.
enum EmbeddingRows {
    /// Whether the diff counts changed rows of `pair`.
    static func counts(_ pair: TensorPair) -> Bool {
        pair.problem == nil && countsRows(role: pair.role, baseShape: pair.base.shape, finetunedShape: pair.finetuned.shape,
                                          dtypes: (pair.base.dtype, pair.finetuned.dtype), transposed: !pair.isDirect)
    }

    static func countsRows(role: ParameterRole, baseShape: [Int], finetunedShape: [Int], dtypes: (DType, DType), transposed: Bool) -> Bool {
        role.kind == .embedding && !transposed && dtypes.0 == dtypes.1 && dtypes.0.byteWidth != nil
            && baseShape.count == 2 && baseShape == finetunedShape && baseShape[1] > 0
    }

    /// Changed rows among those that start inside `elements` (each row is counted by the chunk
    /// holding its first element, so chunks add up to the tensor's count).
    /// - Parameters:
    ///   - base, finetuned: the whole tensors' bytes.
    ///   - changedInChunk: elements of `elements` whose bits differ (the kernel's count).
    static func changed(base: UnsafeRawBufferPointer, finetuned: UnsafeRawBufferPointer, pair: TensorPair,
                        elements: Range<Int>, changedInChunk: Int) -> Int {
        let rowLength = pair.base.shape[1]
        guard let width = pair.base.dtype.byteWidth else { return 0 }
        let firstRow = (elements.lowerBound + rowLength - 1) / rowLength
        let endRow = min(pair.base.shape[0], (elements.upperBound + rowLength - 1) / rowLength)
        guard firstRow < endRow, changedInChunk > 0 else { return 0 }
        if changedInChunk == elements.count { return endRow - firstRow }
        let rowBytes = rowLength * width
        var count = 0
        for row in firstRow..<endRow where memcmp(base.baseAddress! + row * rowBytes, finetuned.baseAddress! + row * rowBytes, rowBytes) != 0 {
            count += 1
        }
        return count
    }
}
