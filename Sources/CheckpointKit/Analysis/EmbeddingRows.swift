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

    /// The rows of one chunk of an embedding pair: those whose first element lies in the chunk
    /// (each row is counted by the chunk holding its first element, so chunks add up to the
    /// tensor's count).
    struct Chunk {
        var base: UnsafeRawBufferPointer
        var finetuned: UnsafeRawBufferPointer
        /// Elements a row, bytes an element.
        var rowLength: Int
        var width: Int
        var rows: Range<Int>
        var elementCount: Int

        /// - Parameters:
        ///   - base, finetuned: the whole tensors' bytes.
        init?(base: UnsafeRawBufferPointer, finetuned: UnsafeRawBufferPointer, pair: TensorPair, elements: Range<Int>) {
            guard let width = pair.base.dtype.byteWidth else { return nil }
            rowLength = pair.base.shape[1]
            let firstRow = (elements.lowerBound + rowLength - 1) / rowLength
            let endRow = min(pair.base.shape[0], (elements.upperBound + rowLength - 1) / rowLength)
            guard firstRow < endRow else { return nil }
            (self.base, self.finetuned, self.width, rows, elementCount) = (base, finetuned, width, firstRow..<endRow, elements.count)
        }

        /// Rows that differ bitwise; `changedInChunk` is the kernel's count of the chunk's elements
        /// whose bits differ.
        func changed(changedInChunk: Int) -> Int {
            count(changedInChunk: changedInChunk) { row, rowBytes in
                memcmp(base.baseAddress! + row * rowBytes, finetuned.baseAddress! + row * rowBytes, rowBytes) != 0
            }
        }

        /// Rows of the fine-tune that differ bitwise from the base's rows passed through
        /// `transform` (base row, elements, destination of the row's bytes).
        func changed(changedInChunk: Int, transform: (UnsafeRawPointer, Int, UnsafeMutableRawBufferPointer) -> Void) -> Int {
            let rowBytes = rowLength * width
            return withUnsafeTemporaryAllocation(byteCount: rowBytes, alignment: 16) { row in
                count(changedInChunk: changedInChunk) { index, rowBytes in
                    transform(base.baseAddress! + index * rowBytes, rowLength, row)
                    return memcmp(row.baseAddress!, finetuned.baseAddress! + index * rowBytes, rowBytes) != 0
                }
            }
        }

        /// No row changed when no element did, every row when every element did; else asks `differs`.
        private func count(changedInChunk: Int, differs: (Int, Int) -> Bool) -> Int {
            guard changedInChunk > 0 else { return 0 }
            if changedInChunk == elementCount { return rows.count }
            let rowBytes = rowLength * width
            return rows.reduce(0) { $0 + (differs($1, rowBytes) ? 1 : 0) }
        }
    }
}
