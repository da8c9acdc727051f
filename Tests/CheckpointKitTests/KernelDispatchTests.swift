import CKernels
import XCTest
@testable import CheckpointKit

/// The run-time CPU dispatch of `CKernels`: the AVX2/FMA/F16C copy and the portable copy of each
/// kernel return the same bits, and the F16 conversion matches Swift's own `Float16` for every one
/// of the 65,536 bit patterns. (How close the sums are to a `Double` reference is DiffKernelTests'
/// job, on whichever copy this CPU selects.)
final class KernelDispatchTests: XCTestCase {
    static let laneTypes: [(ckpt_lane_type, DType)] = [(CKPT_LANE_F32, .f32), (CKPT_LANE_F16, .f16), (CKPT_LANE_BF16, .bf16)]

    func skipUnlessAVX2() throws {
        try XCTSkipUnless(ckpt_isa_available(CKPT_ISA_AVX2) != 0, "this CPU has no AVX2/FMA/F16C: only the portable kernels run")
    }

    /// Sums of one copy of the kernel over raw bytes.
    static func sums(_ isa: ckpt_isa, _ base: [UInt8], _ baseType: ckpt_lane_type, _ ft: [UInt8], _ ftType: ckpt_lane_type,
                     offset: Int, count: Int) -> ckpt_difference_sums {
        var out = ckpt_difference_sums()
        base.withUnsafeBytes { b in
            ft.withUnsafeBytes { f in
                ckpt_difference_sums_isa(isa, b.baseAddress! + offset, baseType, f.baseAddress! + offset, ftType, Int64(count), &out)
            }
        }
        return out
    }

    /// Every field as bits (NaN payloads included), so that equality means bit-for-bit.
    static func bits(_ s: ckpt_difference_sums) -> [UInt64] {
        [UInt64(bitPattern: s.count), s.base_squares.bitPattern, s.finetuned_squares.bitPattern, s.delta_squares.bitPattern,
         s.absolute_delta.bitPattern, s.product.bitPattern, s.max_absolute_delta.bitPattern, UInt64(bitPattern: s.nan_deltas),
         UInt64(bitPattern: s.changed), UInt64(bitPattern: s.base_nan), UInt64(bitPattern: s.base_infinite),
         UInt64(bitPattern: s.finetuned_nan), UInt64(bitPattern: s.finetuned_infinite), UInt64(bitPattern: s.non_finite)]
    }

    /// Every field of a value-statistics result as bits.
    static func bits(_ s: ckpt_value_stats) -> [UInt64] {
        [s.count, s.finite, s.nan, s.positive_infinite, s.negative_infinite, s.zeros].map { UInt64(bitPattern: $0) }
            + [s.min, s.max, s.mean, s.m2].map(\.bitPattern)
    }

    /// The statistics kernel gives the same bits in both copies, for every dtype it reads, sizes
    /// around the lane and block boundaries, unaligned, with NaN, infinities and zeros mixed in.
    func testValueStatsAgreeBitForBit() throws {
        try skipUnlessAVX2()
        var rng = DiffKernelTests.XorShift(state: 77)
        var values = (0..<9000).map { i in 1000 + rng.unit() * [1e-6, 1e-3, 0.05, 3, 300][i % 5] }
        for (i, special) in [Double.nan, .infinity, -.infinity, 0, -0.0].enumerated() { values[11 + 997 * i] = special }
        for (type, dtype) in Self.laneTypes + [(CKPT_LANE_F64, DType.f64)] {
            for offset in [0, 3] {
                let bytes = DiffKernelTests.encode(values, as: dtype, offset: offset)
                for count in [0, 1, 7, 8, 13, 4095, 4096, 4103, 9000] {
                    let results = [CKPT_ISA_AVX2, CKPT_ISA_PORTABLE].map { isa in
                        var s = ckpt_value_stats_empty()
                        bytes.withUnsafeBytes { ckpt_value_stats_isa(isa, $0.baseAddress! + offset, type, Int64(count), &s) }
                        return s
                    }
                    XCTAssertEqual(Self.bits(results[0]), Self.bits(results[1]), "\(dtype) offset \(offset) count \(count)")
                    XCTAssertEqual(results[0].count, Int64(count))
                }
            }
        }
    }

    func testDifferenceSumsAgreeBitForBitOnEveryTypePair() throws {
        try skipUnlessAVX2()
        var rng = DiffKernelTests.XorShift(state: 0x9E37_79B9_7F4A_7C15)
        // Magnitudes from F16 subnormals to large weights; about one element in five unchanged.
        let base = (0..<9000).map { i in rng.unit() * [1e-6, 1e-3, 0.05, 3, 300][i % 5] }
        let ft = base.enumerated().map { i, v in i % 5 == 0 ? v : v + rng.unit() * 1e-3 }
        for (bt, bDType) in Self.laneTypes {
            for (ft16, fDType) in Self.laneTypes {
                for offset in [0, 1, 3] {
                    let b = DiffKernelTests.encode(base, as: bDType, offset: offset)
                    let f = DiffKernelTests.encode(ft, as: fDType, offset: offset)
                    for count in [0, 7, 8, 13, 255, 256, 257, 4096, 4103, 9000] {
                        let avx2 = Self.sums(CKPT_ISA_AVX2, b, bt, f, ft16, offset: offset, count: count)
                        let portable = Self.sums(CKPT_ISA_PORTABLE, b, bt, f, ft16, offset: offset, count: count)
                        XCTAssertEqual(Self.bits(avx2), Self.bits(portable), "\(bDType)/\(fDType) offset \(offset) count \(count)")
                        XCTAssertEqual(avx2.count, Int64(count))
                    }
                }
            }
        }
    }

    func testDifferenceSumsAgreeOnNonFiniteData() throws {
        try skipUnlessAVX2()
        let base: [Double] = [1, .nan, .infinity, -.infinity, 2, 3, .nan, 4, 5, 6, 7, .infinity, 8]
        let ft: [Double] = [1, 2, .infinity, .infinity, .nan, 3, .nan, -4, 5, .infinity, 7, 1, 9]
        for (bt, bDType) in Self.laneTypes {
            for (fType, fDType) in Self.laneTypes {
                let b = DiffKernelTests.encode(base, as: bDType, offset: 0)
                let f = DiffKernelTests.encode(ft, as: fDType, offset: 0)
                let avx2 = Self.sums(CKPT_ISA_AVX2, b, bt, f, fType, offset: 0, count: base.count)
                let portable = Self.sums(CKPT_ISA_PORTABLE, b, bt, f, fType, offset: 0, count: base.count)
                // NaN sums may carry different payloads; every count and every non-NaN sum agrees.
                for (x, y) in zip(Self.bits(avx2), Self.bits(portable)) where !(Double(bitPattern: x).isNaN && Double(bitPattern: y).isNaN) {
                    XCTAssertEqual(x, y, "\(bDType)/\(fDType)")
                }
                XCTAssertEqual(avx2.changed, portable.changed)
            }
        }
    }

    func testF16DecodingMatchesSwiftForEveryBitPattern() throws {
        let halves = (0...UInt16.max).map { $0 }
        var isas = [CKPT_ISA_PORTABLE]
        if ckpt_isa_available(CKPT_ISA_AVX2) != 0 { isas.append(CKPT_ISA_AVX2) }
        var decoded: [[Float]] = []
        for isa in isas {
            var out = [Float](repeating: 0, count: halves.count)
            halves.withUnsafeBytes { src in
                out.withUnsafeMutableBufferPointer { ckpt_decode_f16_isa(isa, src.baseAddress!, $0.baseAddress!, Int64(halves.count)) }
            }
            for (h, v) in zip(halves, out) {
                let expected = Float(Float16(bitPattern: h))
                if expected.isNaN {
                    XCTAssertTrue(v.isNaN, "isa \(isa.rawValue) \(h)")
                    XCTAssertEqual(v.sign, expected.sign, "isa \(isa.rawValue) \(h)")
                } else {
                    XCTAssertEqual(v.bitPattern, expected.bitPattern, "isa \(isa.rawValue) \(h)")
                }
            }
            decoded.append(out)
        }
        if decoded.count == 2 {
            XCTAssertEqual(decoded[0].map(\.bitPattern), decoded[1].map(\.bitPattern), "AVX2 and portable F16 decoding")
        }
    }

    func testBF16DecodingKeepsTheTopSixteenBits() {
        let halves = (0...UInt16.max).map { $0 }
        var isas = [CKPT_ISA_PORTABLE]
        if ckpt_isa_available(CKPT_ISA_AVX2) != 0 { isas.append(CKPT_ISA_AVX2) }
        for isa in isas {
            var out = [Float](repeating: 0, count: halves.count)
            halves.withUnsafeBytes { src in
                out.withUnsafeMutableBufferPointer { ckpt_decode_bf16_isa(isa, src.baseAddress!, $0.baseAddress!, Int64(halves.count)) }
            }
            XCTAssertEqual(out.map(\.bitPattern), halves.map { UInt32($0) << 16 }, "isa \(isa.rawValue)")
        }
    }
}

extension KernelDispatchTests {
    /// Widening to `Double`: both copies, against Swift's own conversions, at an unaligned offset
    /// and with a tail that does not fill 8 lanes.
    func testWideningToDoubleMatchesSwift() {
        let patterns = (0...UInt16.max).map { $0 }
        var isas = [CKPT_ISA_PORTABLE]
        if ckpt_isa_available(CKPT_ISA_AVX2) != 0 { isas.append(CKPT_ISA_AVX2) }
        let f32 = patterns.map { UInt32($0) &* 0x0001_0003 }
        let cases: [(ckpt_lane_type, [UInt8], [Double])] = [
            (CKPT_LANE_F32, f32.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }, f32.map { Double(Float(bitPattern: $0)) }),
            (CKPT_LANE_F16, patterns.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }, patterns.map { Double(Float(Float16(bitPattern: $0))) }),
            (CKPT_LANE_BF16, patterns.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }, patterns.map { Double(Float(bitPattern: UInt32($0) << 16)) }),
        ]
        for isa in isas {
            for (type, bytes, expected) in cases {
                let raw = [0x5A] + bytes   // one byte in: every load unaligned
                let count = expected.count - 3
                var out = [Double](repeating: 0, count: count)
                raw.withUnsafeBytes { src in
                    out.withUnsafeMutableBufferPointer { ckpt_widen_isa(isa, src.baseAddress! + 1, type, $0.baseAddress!, Int64(count)) }
                }
                for (v, e) in zip(out, expected) where !(v.isNaN && e.isNaN) {
                    XCTAssertEqual(v.bitPattern, e.bitPattern, "isa \(isa.rawValue) type \(type.rawValue)")
                }
                XCTAssertEqual(out.map(\.isNaN), expected.prefix(count).map(\.isNaN), "isa \(isa.rawValue) type \(type.rawValue)")
            }
        }
    }
}

extension KernelDispatchTests {
    /// One run of a copy of the patch-scan kernel: the sums (as bits) and the indices it wrote.
    static func scan(_ isa: ckpt_isa, _ a: [UInt8], _ b: [UInt8], width: Int, values: ([Double], [Double])?, count: Int,
                     keep: ckpt_keep, mask: [UInt8], capacity: Int) -> ([UInt64], [Int64]) {
        var sums = ckpt_scan_sums(changed: 3, kept: 1, sum_squares: 0.1, kept_sum_squares: 0.03, dropped_sum_squares: 0.07)
        var indices = [Int64](repeating: -1, count: capacity)
        let written = a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                mask.withUnsafeBufferPointer { m in
                    indices.withUnsafeMutableBufferPointer { out in
                        (values?.0 ?? []).withUnsafeBufferPointer { x in
                            (values?.1 ?? []).withUnsafeBufferPointer { y in
                                ckpt_scan_block_isa(isa, pa.baseAddress! + 1, pb.baseAddress! + 1, Int64(width),
                                                    values == nil ? nil : x.baseAddress, values == nil ? nil : y.baseAddress,
                                                    Int64(count), keep, m.baseAddress, 1000, out.baseAddress, Int64(capacity), &sums)
                            }
                        }
                    }
                }
            }
        }
        let bits = [UInt64(bitPattern: sums.changed), UInt64(bitPattern: sums.kept), sums.sum_squares.bitPattern,
                    sums.kept_sum_squares.bitPattern, sums.dropped_sum_squares.bitPattern]
        return (bits, Array(indices.prefix(Int(written))))
    }

    /// The patch-scan kernel: both copies return the same bits for every width (0 = compare the
    /// decoded values), keep policy, with and without decoded values and with a short index buffer;
    /// the counts, indices and total also match a plain Swift reading of the bytes.
    func testPatchScanAgreesBitForBit() throws {
        try skipUnlessAVX2()
        var rng = DiffKernelTests.XorShift(state: 0x0123_4567_89AB_CDEF)
        let count = 4099
        let special: [Double] = [.nan, .infinity, -.infinity, 1e300, -0.0]
        for width in [0, 1, 2, 3, 4, 8] {
            let bytes = max(width, 1) * count + 1
            let a = (0..<bytes).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let b = a.enumerated().map { i, v in i % 3 == 0 ? v ^ UInt8(truncatingIfNeeded: rng.next() | 1) : v }
            let x = (0..<count).map { i in i % 97 == 0 ? special[i % 5] : rng.unit() * 10 }
            let y = x.enumerated().map { i, v in i % 89 == 0 ? special[(i / 89) % 5] : (i % 4 == 0 ? v : v + rng.unit()) }
            let mask = (0..<count).map { _ in UInt8(rng.next() % 3 == 0 ? 0 : 1) }
            for keep in [CKPT_KEEP_NONE, CKPT_KEEP_ALL, CKPT_KEEP_MASKED] {
                for values in [(x, y), nil] where width > 0 || values != nil {
                    for capacity in [0, 100, count] {
                        let avx2 = Self.scan(CKPT_ISA_AVX2, a, b, width: width, values: values, count: count, keep: keep, mask: mask, capacity: capacity)
                        let portable = Self.scan(CKPT_ISA_PORTABLE, a, b, width: width, values: values, count: count, keep: keep, mask: mask, capacity: capacity)
                        let label = "width \(width) keep \(keep.rawValue) values \(values != nil) capacity \(capacity)"
                        XCTAssertEqual(avx2.0, portable.0, label)
                        XCTAssertEqual(avx2.1, portable.1, label)
                        let changed = (0..<count).filter { k in
                            width == 0 ? !(x[k] == y[k] || (x[k].isNaN && y[k].isNaN))
                                       : a[(1 + k * width)..<(1 + (k + 1) * width)] != b[(1 + k * width)..<(1 + (k + 1) * width)]
                        }
                        let kept = changed.filter { keep == CKPT_KEEP_ALL || (keep == CKPT_KEEP_MASKED && mask[$0] != 0) }
                        XCTAssertEqual(avx2.0[0], UInt64(3 + changed.count), label)
                        XCTAssertEqual(avx2.0[1], UInt64(1 + kept.count), label)
                        XCTAssertEqual(avx2.1, kept.prefix(capacity).map { Int64(1000 + $0) }, label)
                        // The sum in index order, one entry at a time, from the running value.
                        var total = 0.1
                        for k in changed {
                            let d = values.map { $0.1[k] - $0.0[k] } ?? 0
                            total += d.isFinite ? d * d : 0
                        }
                        XCTAssertEqual(avx2.0[2], total.bitPattern, label)
                    }
                }
            }
        }
    }
}

extension KernelDispatchTests {
    /// F32 -> F16 / BF16 rounding (``DTypeConversion``): both copies give the same bits on every
    /// high half of an F32 with low halves at and around the ties (PyTorch's bits are checked by
    /// DTypeConversionTests on whichever copy this CPU selects).
    func testRoundingToHalfAndBFloat16Agrees() throws {
        try skipUnlessAVX2()
        let input = DTypeConversionTests.f32Patterns()
        for target in [CKPT_LANE_F16, CKPT_LANE_BF16] {
            var portable = [UInt16](repeating: 0, count: input.count), avx2 = portable
            input.withUnsafeBytes { src in
                ckpt_round_f32_isa(CKPT_ISA_PORTABLE, src.baseAddress!, target, 0xFFFF, &portable, Int64(input.count))
                ckpt_round_f32_isa(CKPT_ISA_AVX2, src.baseAddress!, target, 0xFFFF, &avx2, Int64(input.count))
            }
            XCTAssertEqual(portable, avx2, "lane type \(target.rawValue)")
            // Tails shorter than eight lanes take the one-element path of both copies.
            for count in 1..<8 {
                var a = [UInt16](repeating: 0, count: count), b = a
                input.withUnsafeBytes { src in
                    ckpt_round_f32_isa(CKPT_ISA_PORTABLE, src.baseAddress! + 4 * 12_345, target, 0xFFFF, &a, Int64(count))
                    ckpt_round_f32_isa(CKPT_ISA_AVX2, src.baseAddress! + 4 * 12_345, target, 0xFFFF, &b, Int64(count))
                }
                XCTAssertEqual(a, b)
            }
        }
    }
}

extension KernelDispatchTests {
    /// The block transpose (``ElementTransposition``): every copy writes column `first + i` of the
    /// source as row `i`, for 2- and 4-byte elements, sizes around the 8 x 8 tiles, column ranges
    /// that start and end off a tile, and an unaligned source.
    func testTransposeColumnsMatchesDefinitionInEveryCopy() {
        let isas = [CKPT_ISA_PORTABLE] + (ckpt_isa_available(CKPT_ISA_AVX2) != 0 ? [CKPT_ISA_AVX2] : [])
        for width in [2, 4] {
            for (rows, columns) in [(1, 1), (3, 5), (8, 8), (9, 17), (16, 24), (33, 65)] {
                let source = (0..<(rows * columns * width + 1)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 >> 8) }
                for range in [0..<columns, 1..<columns, (columns / 2)..<columns, 0..<min(columns, 9)] where !range.isEmpty {
                    var expected = [UInt8](repeating: 0, count: range.count * rows * width)
                    for c in range {
                        for r in 0..<rows {
                            for b in 0..<width { expected[((c - range.lowerBound) * rows + r) * width + b] = source[1 + (r * columns + c) * width + b] }
                        }
                    }
                    for isa in isas {
                        var out = [UInt8](repeating: 0, count: expected.count)
                        source.withUnsafeBytes { s in
                            ckpt_transpose_columns_isa(isa, s.baseAddress! + 1, Int64(rows), Int64(columns), Int64(width),
                                                       Int64(range.lowerBound), Int64(range.upperBound), &out)
                        }
                        XCTAssertEqual(out, expected, "isa \(isa.rawValue), width \(width), \(rows) x \(columns), columns \(range)")
                    }
                }
            }
        }
    }
}
