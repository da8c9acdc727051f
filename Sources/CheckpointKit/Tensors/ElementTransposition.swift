import CKernels

/// Rewrites a row-major `rows x columns` matrix of fixed-width elements as its transpose, the
/// operation that turns a TensorFlow `kernel` (in, out) into PyTorch's `weight` (out, in) order.
///
/// Works on raw element bytes, so the transposed copy keeps the stored dtype and bit patterns
/// (the diff's `changed` count stays bitwise). 2- and 4-byte elements (every float dtype a kernel is
/// stored in but F64) go through the `CKernels` tile transpose (8 x 8 tiles through vector
/// shuffles, 3-4x the element loop); other widths copy 32 x 32 tiles element by element, so that
/// both the reads and the writes stay within a few cache lines per row.
enum ElementTransposition {
    static let tile = 32

    /// Writes the transpose of `source` (`rows x columns` elements of `width` bytes) to `destination`
    /// (`columns x rows`). The source need not be aligned.
    static func transpose(_ source: UnsafeRawBufferPointer, rows: Int, columns: Int, width: Int, into destination: UnsafeMutableRawBufferPointer) {
        transpose(source, rows: rows, columns: columns, width: width, outputRows: 0..<columns, into: destination)
    }

    /// Writes rows `outputRows` of the transpose of `source` (`rows x columns` elements of `width`
    /// bytes), that is its columns `outputRows`, to `destination` (`outputRows.count x rows`): one
    /// block of a transpose, for a caller that consumes it block by block while it is in cache.
    static func transpose(_ source: UnsafeRawBufferPointer, rows: Int, columns: Int, width: Int, outputRows: Range<Int>,
                          into destination: UnsafeMutableRawBufferPointer) {
        precondition(source.count >= rows * columns * width && destination.count >= rows * outputRows.count * width)
        precondition(outputRows.lowerBound >= 0 && outputRows.upperBound <= columns)
        guard rows > 0, !outputRows.isEmpty, let src = source.baseAddress, let dst = destination.baseAddress else { return }
        switch width {
        case 1: transpose(src, dst, rows: rows, columns: columns, outputRows: outputRows, as: UInt8.self)
        case 2, 4:
            ckpt_transpose_columns(src, Int64(rows), Int64(columns), Int64(width), Int64(outputRows.lowerBound), Int64(outputRows.upperBound), dst)
        case 8: transpose(src, dst, rows: rows, columns: columns, outputRows: outputRows, as: UInt64.self)
        default:
            for r in 0..<rows {
                for c in outputRows {
                    (dst + ((c - outputRows.lowerBound) * rows + r) * width).copyMemory(from: src + (r * columns + c) * width, byteCount: width)
                }
            }
        }
    }

    private static func transpose<T: FixedWidthInteger>(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, rows: Int, columns: Int,
                                                        outputRows: Range<Int>, as _: T.Type) {
        let size = MemoryLayout<T>.size
        let first = outputRows.lowerBound
        var r0 = 0
        while r0 < rows {
            let r1 = Swift.min(rows, r0 + tile)
            var c0 = first
            while c0 < outputRows.upperBound {
                let c1 = Swift.min(outputRows.upperBound, c0 + tile)
                for r in r0..<r1 {
                    for c in c0..<c1 {
                        let value = src.loadUnaligned(fromByteOffset: (r * columns + c) * size, as: T.self)
                        dst.storeBytes(of: value, toByteOffset: ((c - first) * rows + r) * size, as: T.self)
                    }
                }
                c0 = c1
            }
            r0 = r1
        }
    }
}
