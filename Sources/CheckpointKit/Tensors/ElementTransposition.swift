/// Rewrites a row-major `rows x columns` matrix of fixed-width elements as its transpose, the
/// operation that turns a TensorFlow `kernel` (in, out) into PyTorch's `weight` (out, in) order.
///
/// Works on raw element bytes, so the transposed copy keeps the stored dtype and bit patterns
/// (the diff's `changed` count stays bitwise). Copies 32 x 32 tiles so that both the reads and the
/// writes stay within a few cache lines per row.
enum ElementTransposition {
    static let tile = 32

    /// Writes the transpose of `source` (`rows x columns` elements of `width` bytes) to `destination`
    /// (`columns x rows`). The source need not be aligned.
    static func transpose(_ source: UnsafeRawBufferPointer, rows: Int, columns: Int, width: Int, into destination: UnsafeMutableRawBufferPointer) {
        precondition(source.count >= rows * columns * width && destination.count >= rows * columns * width)
        guard rows > 0, columns > 0, let src = source.baseAddress, let dst = destination.baseAddress else { return }
        switch width {
        case 1: transpose(src, dst, rows: rows, columns: columns, as: UInt8.self)
        case 2: transpose(src, dst, rows: rows, columns: columns, as: UInt16.self)
        case 4: transpose(src, dst, rows: rows, columns: columns, as: UInt32.self)
        case 8: transpose(src, dst, rows: rows, columns: columns, as: UInt64.self)
        default:
            for r in 0..<rows {
                for c in 0..<columns {
                    (dst + (c * rows + r) * width).copyMemory(from: src + (r * columns + c) * width, byteCount: width)
                }
            }
        }
    }

    private static func transpose<T: FixedWidthInteger>(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, rows: Int, columns: Int, as _: T.Type) {
        let size = MemoryLayout<T>.size
        var r0 = 0
        while r0 < rows {
            let r1 = Swift.min(rows, r0 + tile)
            var c0 = 0
            while c0 < columns {
                let c1 = Swift.min(columns, c0 + tile)
                for r in r0..<r1 {
                    for c in c0..<c1 {
                        let value = src.loadUnaligned(fromByteOffset: (r * columns + c) * size, as: T.self)
                        dst.storeBytes(of: value, toByteOffset: (c * rows + r) * size, as: T.self)
                    }
                }
                c0 = c1
            }
            r0 = r1
        }
    }
}
