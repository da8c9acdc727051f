import XCTest
@testable import CheckpointKit

/// The SIMD kernel against a plain `Double` loop written here, on sizes around every block and
/// lane boundary, at unaligned byte offsets, for every path (F32/F16/BF16 same and mixed, FP8
/// widened, F64/integer exact), with NaN and infinity.
final class DiffKernelTests: XCTestCase {
    /// A small deterministic generator (xorshift64*), so that test data is the same on every run.
    struct XorShift {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
        /// Uniform in [-1, 1).
        mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 52) - 1 }
    }

    /// Raw little-endian bytes of `values` stored as `dtype`, preceded by `offset` junk bytes.
    static func encode(_ values: [Double], as dtype: DType, offset: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xA5, count: offset)
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        for v in values {
            switch dtype {
            case .f32: append(Float(v).bitPattern)
            case .f16: append(Float16(Float(v)).bitPattern)
            case .bf16: append(UInt16(truncatingIfNeeded: Float(v).bitPattern >> 16))
            case .f64: append(v.bitPattern)
            case .i32: append(Int32(v * 1000))
            case .f8E4M3: bytes.append(UInt8(truncatingIfNeeded: Int(v * 100)))
            default: fatalError("no encoder for \(dtype)")
            }
        }
        return bytes
    }

    /// The reference: decode both sides to Double and add every term in order.
    static func reference(_ base: UnsafeRawBufferPointer, _ baseType: DType, _ ft: UnsafeRawBufferPointer, _ ftType: DType, count: Int) -> DifferenceSums {
        var b = [Double](repeating: 0, count: count), f = [Double](repeating: 0, count: count)
        b.withUnsafeMutableBufferPointer { TensorDecoder.decode(base, as: baseType, into: $0) }
        f.withUnsafeMutableBufferPointer { TensorDecoder.decode(ft, as: ftType, into: $0) }
        var sums = DifferenceSums()
        for i in 0..<count { sums.add(base: b[i], finetuned: f[i]) }
        if baseType == ftType {
            let width = baseType.bitWidth / 8
            sums.changed = (0..<count).filter { i in
                !(0..<width).allSatisfy { base[i * width + $0] == ft[i * width + $0] }
            }.count
        } else if [baseType, ftType].allSatisfy({ $0.isFloatingPoint && $0 != .f64 }) {
            sums.changed = (0..<count).filter { Float(b[$0]).bitPattern != Float(f[$0]).bitPattern }.count
        } else {
            sums.changed = (0..<count).filter { b[$0].bitPattern != f[$0].bitPattern }.count
        }
        return sums
    }

    func assertClose(_ a: Double, _ e: Double, _ what: String, tolerance: Double = 1e-6, file: StaticString = #filePath, line: UInt = #line) {
        if e.isNaN { XCTAssertTrue(a.isNaN, "\(what): \(a) vs NaN", file: file, line: line); return }
        if e.isInfinite || e == 0 { XCTAssertEqual(a, e, what, file: file, line: line); return }
        XCTAssertLessThanOrEqual(abs(a - e) / abs(e), tolerance, "\(what): \(a) vs \(e)", file: file, line: line)
    }

    func assertMatches(_ sums: DifferenceSums, _ expected: DifferenceSums, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(sums.count, expected.count, "\(label) count", file: file, line: line)
        XCTAssertEqual(sums.changed, expected.changed, "\(label) changed", file: file, line: line)
        XCTAssertEqual(sums.baseNaN, expected.baseNaN, "\(label) base NaN", file: file, line: line)
        XCTAssertEqual(sums.baseInfinite, expected.baseInfinite, "\(label) base Inf", file: file, line: line)
        XCTAssertEqual(sums.finetunedNaN, expected.finetunedNaN, "\(label) ft NaN", file: file, line: line)
        XCTAssertEqual(sums.finetunedInfinite, expected.finetunedInfinite, "\(label) ft Inf", file: file, line: line)
        XCTAssertEqual(sums.nanDeltas, expected.nanDeltas, "\(label) NaN deltas", file: file, line: line)
        assertClose(sums.baseSquares, expected.baseSquares, "\(label) sum b^2", file: file, line: line)
        assertClose(sums.finetunedSquares, expected.finetunedSquares, "\(label) sum f^2", file: file, line: line)
        assertClose(sums.deltaSquares, expected.deltaSquares, "\(label) sum d^2", file: file, line: line)
        assertClose(sums.absoluteDelta, expected.absoluteDelta, "\(label) sum |d|", file: file, line: line)
        assertClose(sums.product, expected.product, "\(label) sum bf", file: file, line: line)
        assertClose(sums.maxAbsoluteDelta, expected.maxAbsoluteDelta, "\(label) max |d|", file: file, line: line)
    }

    /// Runs the kernel and the reference on the same bytes.
    func check(count: Int, baseType: DType, ftType: DType, baseOffset: Int, ftOffset: Int, seed: UInt64,
               mutate: (inout [Double], inout [Double]) -> Void = { _, _ in }, file: StaticString = #filePath, line: UInt = #line) {
        var rng = XorShift(state: seed)
        var b = (0..<count).map { _ in rng.unit() }
        var f = b.map { v in rng.next() % 3 == 0 ? v : v + 0.01 * rng.unit() }
        mutate(&b, &f)
        let baseBytes = Self.encode(b, as: baseType, offset: baseOffset)
        let ftBytes = Self.encode(f, as: ftType, offset: ftOffset)
        let scratch = DifferenceScratch()
        baseBytes.withUnsafeBytes { braw in
            ftBytes.withUnsafeBytes { fraw in
                let bslice = UnsafeRawBufferPointer(rebasing: braw[baseOffset...])
                let fslice = UnsafeRawBufferPointer(rebasing: fraw[ftOffset...])
                let sums = DifferenceKernel.accumulate(base: bslice, baseType, finetuned: fslice, ftType, count: count, scratch: scratch)
                let expected = Self.reference(bslice, baseType, fslice, ftType, count: count)
                assertMatches(sums, expected, "\(baseType.rawValue)/\(ftType.rawValue) n=\(count) offsets \(baseOffset),\(ftOffset)", file: file, line: line)
            }
        }
    }

    static let sizes = [0, 1, 7, 15, 16, 17, 31, 255, 256, 257, 4095, 4096, 4097, 8192 + 13, 20_011]

    func testF32OddSizesAndUnalignedOffsets() {
        for (i, n) in Self.sizes.enumerated() {
            check(count: n, baseType: .f32, ftType: .f32, baseOffset: i % 4, ftOffset: (i + 1) % 4, seed: UInt64(100 + i))
        }
    }

    func testHalfPrecisionPathsSameAndMixed() {
        let pairs: [(DType, DType)] = [(.f16, .f16), (.bf16, .bf16), (.f32, .f16), (.f16, .f32), (.bf16, .f32), (.f32, .bf16), (.f16, .bf16), (.bf16, .f16)]
        for (p, (a, b)) in pairs.enumerated() {
            for (i, n) in [1, 17, 257, 4097, 9001].enumerated() {
                check(count: n, baseType: a, ftType: b, baseOffset: (i + p) % 3, ftOffset: 1, seed: UInt64(7 * p + i + 1))
            }
        }
    }

    func testWidenedAndExactPaths() {
        for (i, n) in [1, 33, 4097].enumerated() {
            check(count: n, baseType: .f64, ftType: .f64, baseOffset: 3, ftOffset: 5, seed: UInt64(300 + i))
            check(count: n, baseType: .f32, ftType: .f64, baseOffset: 1, ftOffset: 0, seed: UInt64(310 + i))
            check(count: n, baseType: .i32, ftType: .i32, baseOffset: 2, ftOffset: 1, seed: UInt64(320 + i))
            check(count: n, baseType: .f8E4M3, ftType: .f8E4M3, baseOffset: 1, ftOffset: 0, seed: UInt64(330 + i))
            check(count: n, baseType: .f8E4M3, ftType: .f32, baseOffset: 0, ftOffset: 3, seed: UInt64(340 + i))
        }
    }

    /// NaN and infinities are counted per side and their pairs left out of every sum (issue 21).
    func testNaNAndInfinityAreCountedAndLeftOut() {
        let mutate: (inout [Double], inout [Double]) -> Void = { b, f in
            b[3] = .nan
            f[100] = .infinity
            b[5000] = -.infinity
            f[5000] = -.infinity
            b[6000] = .infinity
            f[6000] = .infinity
        }
        for (a, b) in [(DType.f32, DType.f32), (.f16, .f16), (.bf16, .bf16), (.f32, .bf16)] {
            check(count: 9000, baseType: a, ftType: b, baseOffset: 1, ftOffset: 2, seed: 42, mutate: mutate)
        }
        var b = [Double](repeating: 1, count: 20), f = [Double](repeating: 2, count: 20)
        (b[3], f[7], b[9], f[9]) = (.nan, .infinity, -.infinity, -.infinity)
        let bytes = (Self.encode(b, as: .f32, offset: 0), Self.encode(f, as: .f32, offset: 0))
        bytes.0.withUnsafeBytes { braw in
            bytes.1.withUnsafeBytes { fraw in
                let sums = DifferenceKernel.accumulate(base: braw, .f32, finetuned: fraw, .f32, count: 20, scratch: DifferenceScratch())
                XCTAssertEqual(sums.nonFinite, 3)
                XCTAssertEqual(sums.finiteCount, 17)
                XCTAssertEqual(sums.deltaSquares, 17)
                XCTAssertEqual(sums.baseSquares, 17)
                XCTAssertEqual(sums.maxAbsoluteDelta, 1)
                XCTAssertEqual(sums.changed, 19, "every pair but the -inf/-inf one changed")
            }
        }
    }

    func testHugeFiniteValuesDoNotOverflow() {
        // Squares of 1e20 overflow Float; the block must be recomputed in Double.
        check(count: 4100, baseType: .f32, ftType: .f32, baseOffset: 0, ftOffset: 0, seed: 9) { b, f in
            b[10] = 1e20
            f[10] = -1e20
        }
    }

    func testIdenticalInputsGiveZeroDelta() {
        var rng = XorShift(state: 5)
        let values = (0..<10_000).map { _ in rng.unit() }
        let bytes = Self.encode(values, as: .f32, offset: 0)
        let scratch = DifferenceScratch()
        bytes.withUnsafeBytes { raw in
            let sums = DifferenceKernel.accumulate(base: raw, .f32, finetuned: raw, .f32, count: values.count, scratch: scratch)
            XCTAssertEqual(sums.changed, 0)
            XCTAssertEqual(sums.deltaSquares, 0)
            XCTAssertEqual(sums.absoluteDelta, 0)
            XCTAssertEqual(sums.maxAbsoluteDelta, 0)
            let difference = TensorDifference.relativeChange(deltaSquares: sums.deltaSquares, baseSquares: sums.baseSquares)
            XCTAssertEqual(difference, 0)
        }
    }

    func testNegativeZeroCountsAsChangedBitwise() {
        let base = Self.encode([0, 1, 2], as: .f32, offset: 0)
        let ft = Self.encode([-0.0, 1, 2], as: .f32, offset: 0)
        base.withUnsafeBytes { b in
            ft.withUnsafeBytes { f in
                let sums = DifferenceKernel.accumulate(base: b, .f32, finetuned: f, .f32, count: 3, scratch: DifferenceScratch())
                XCTAssertEqual(sums.changed, 1)
                XCTAssertEqual(sums.deltaSquares, 0)
            }
        }
    }

    func testZeroBaseConventions() {
        XCTAssertEqual(TensorDifference.relativeChange(deltaSquares: 0, baseSquares: 0), 0)
        XCTAssertEqual(TensorDifference.relativeChange(deltaSquares: 4, baseSquares: 0), .infinity)
        XCTAssertEqual(TensorDifference.relativeChange(deltaSquares: 4, baseSquares: 16), 0.5)
    }

    func testTranspositionMatchesDefinition() {
        for (rows, columns) in [(1, 1), (3, 5), (33, 65), (64, 32)] {
            let n = rows * columns
            let source = (0..<n).map { UInt32($0) }
            var out = [UInt32](repeating: 0, count: n)
            source.withUnsafeBytes { src in
                out.withUnsafeMutableBytes { dst in
                    ElementTransposition.transpose(src, rows: rows, columns: columns, width: 4, into: dst)
                }
            }
            for r in 0..<rows {
                for c in 0..<columns { XCTAssertEqual(out[c * rows + r], source[r * columns + c]) }
            }
        }
    }
}
