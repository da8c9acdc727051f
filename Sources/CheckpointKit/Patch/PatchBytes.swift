import Glibc

/// Byte-level helpers shared by the patch writer, applier and verifier: block comparison,
/// transposition into the base's layout, index encoding and scattering of new values.
enum PatchBytes {
    /// Elements compared per block: equal blocks are skipped with one memcmp.
    static let block = 4096

    /// Whether two buffers hold the same bytes.
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0 else { return true }
        return memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
    }

    /// Calls `visit(start, end)` for every block of elements whose bytes are not all equal.
    static func forEachDifferingBlock(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, count: Int, width: Int,
                                      _ visit: (Int, Int) throws -> Void) rethrows {
        guard count > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return }
        var start = 0
        while start < count {
            let end = min(count, start + block)
            if memcmp(pa + start * width, pb + start * width, (end - start) * width) != 0 {
                try visit(start, end)
            }
            start = end
        }
    }

    /// The element type of the `.indices` entry for a tensor of `count` elements.
    static func indexDType(forCount count: Int) -> DType {
        count < (1 << 31) ? .i32 : .i64
    }

    /// `indices` as little-endian I32 or I64 bytes.
    static func encodeIndices(_ indices: [Int], as dtype: DType) -> [UInt8] {
        let width = dtype == .i32 ? 4 : 8
        var out = [UInt8](repeating: 0, count: indices.count * width)
        out.withUnsafeMutableBytes { raw in
            for (k, index) in indices.enumerated() {
                if width == 4 {
                    raw.storeBytes(of: Int32(index).littleEndian, toByteOffset: 4 * k, as: Int32.self)
                } else {
                    raw.storeBytes(of: Int64(index).littleEndian, toByteOffset: 8 * k, as: Int64.self)
                }
            }
        }
        return out
    }

    /// Reads index `k` of an I32/I64 `.indices` entry.
    @inline(__always)
    static func index(_ raw: UnsafeRawBufferPointer, _ k: Int, dtype: DType) -> Int {
        dtype == .i32
            ? Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * k, as: Int32.self)))
            : Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * k, as: Int64.self)))
    }

    /// The bytes of the elements at `indices` of `source`.
    static func gather(_ source: UnsafeRawBufferPointer, indices: [Int], width: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: indices.count * width)
        guard let s = source.baseAddress else { return out }
        out.withUnsafeMutableBytes { raw in
            guard let d = raw.baseAddress else { return }
            for (k, i) in indices.enumerated() { memcpy(d + k * width, s + i * width, width) }
        }
        return out
    }

    /// Writes `values[k]` over element `indices[k]` of `target` (indices as stored in a patch).
    static func scatter(values: UnsafeRawBufferPointer, indices: UnsafeRawBufferPointer, indexDType: DType, count: Int,
                        width: Int, into target: UnsafeMutableRawBufferPointer) {
        guard count > 0, let d = target.baseAddress, let s = values.baseAddress else { return }
        for k in 0..<count {
            let i = index(indices, k, dtype: indexDType)
            memcpy(d + i * width, s + k * width, width)
        }
    }
}
