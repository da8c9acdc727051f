import XCTest
@testable import CheckpointKit

/// Pairs whose sides store their elements in different orders (TF kernels, KerasHub per-head
/// kernels) compared block by block (``ReorderedBlocks``), against sums computed here with plain
/// loops over the PyTorch-order values: non-square and 3-D permuted kernels, both sides reordered,
/// F16, a NaN, and block sizes that divide neither the tensor nor a row count.
final class ReorderedBlocksTests: XCTestCase {
    /// Deterministic values in [-1, 1), with a few exact repeats so that `changed` is not `count`.
    static func values(_ count: Int, seed: UInt64) -> [Double] {
        var rng = DiffKernelTests.XorShift(state: seed)
        return (0..<count).map { _ in (rng.unit() * 1024).rounded() / 1024 }
    }

    /// Plain-loop sums over PyTorch-order values (the reference).
    static func reference(_ base: [Double], _ finetuned: [Double]) -> DifferenceSums {
        var sums = DifferenceSums()
        for i in base.indices { sums.add(base: base[i], finetuned: finetuned[i]) }
        sums.changed = base.indices.filter { base[$0].bitPattern != finetuned[$0].bitPattern && !(base[$0].isNaN && finetuned[$0].isNaN) }.count
        return sums
    }

    /// `values` (PyTorch order, `shape` row-major) stored as `dtype` in the order `layout` describes.
    static func stored(_ values: [Double], _ layout: ElementLayout, dtype: DType) -> [UInt8] {
        let bytes = DiffKernelTests.encode(values, as: dtype, offset: 0)
        var out = [UInt8](repeating: 0, count: bytes.count)
        bytes.withUnsafeBytes { src in out.withUnsafeMutableBytes { layout.fromPyTorch(src, width: dtype.bitWidth / 8, into: $0) } }
        return out
    }

    /// Sums of `pair` over stored bytes, block by block with blocks of about `targetBytes`.
    static func blocked(_ pair: TensorPair, base: [UInt8], finetuned: [UInt8], targetBytes: Int) -> (sums: DifferenceSums, blocks: Int) {
        let scratch = DifferenceScratch()
        var sums = DifferenceSums()
        var blocks = 0
        base.withUnsafeBytes { b in
            finetuned.withUnsafeBytes { f in
                ReorderedBlocks.forEach(pair, elements: 0..<pair.base.elementCount, base: b, finetuned: f, scratch: scratch,
                                        targetBytes: targetBytes) { bb, fb, count in
                    DifferenceKernel.accumulate(base: bb, pair.base.dtype, finetuned: fb, pair.finetuned.dtype, count: count,
                                                scratch: scratch, into: &sums)
                    blocks += 1
                }
            }
        }
        return (sums, blocks)
    }

    func assertMatches(_ actual: DifferenceSums, _ expected: DifferenceSums, tolerance: Double = 1e-6, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, "count", file: file, line: line)
        XCTAssertEqual(actual.changed, expected.changed, "changed", file: file, line: line)
        XCTAssertEqual(actual.nonFinite, expected.nonFinite, "non-finite", file: file, line: line)
        XCTAssertEqual(actual.nanDeltas, expected.nanDeltas, "NaN deltas", file: file, line: line)
        XCTAssertEqual(actual.baseNaN, expected.baseNaN, "base NaN", file: file, line: line)
        XCTAssertEqual(actual.finetunedNaN, expected.finetunedNaN, "fine-tune NaN", file: file, line: line)
        XCTAssertEqual(actual.maxAbsoluteDelta, expected.maxAbsoluteDelta, "max |delta|", file: file, line: line)
        for (name, a, e) in [("base^2", actual.baseSquares, expected.baseSquares), ("ft^2", actual.finetunedSquares, expected.finetunedSquares),
                             ("delta^2", actual.deltaSquares, expected.deltaSquares), ("|delta|", actual.absoluteDelta, expected.absoluteDelta),
                             ("product", actual.product, expected.product)] {
            XCTAssertLessThanOrEqual(abs(a - e), tolerance * max(abs(e), 1e-30), "\(name): \(a) vs \(e)", file: file, line: line)
        }
    }

    /// A PyTorch weight (out 70, in 45) against its TF kernel (45, 70) with a NaN, in blocks of 3
    /// rows (the last one 1 row), as F32 and as F16.
    func testNonSquareTransposedKernelWithNaN() throws {
        let (out, inputs) = (70, 45)
        for dtype in [DType.f32, .f16] {
            let base = Self.values(out * inputs, seed: 11)
            var finetuned = base.enumerated().map { $0.offset % 3 == 0 ? $0.element : $0.element + 0.25 }
            finetuned[17 * inputs + 4] = .nan
            let layout = ElementLayout.transposed(rows: inputs, columns: out)
            let pair = TensorPair(base: TensorInfo(name: "w", dtype: dtype, shape: [out, inputs], byteCount: out * inputs * dtype.bitWidth / 8),
                                  finetuned: TensorInfo(name: "k", dtype: dtype, shape: [inputs, out], byteCount: out * inputs * dtype.bitWidth / 8),
                                  role: ParameterNames.role(of: "encoder.layer.0.intermediate.dense.weight", dtype: dtype),
                                  baseLayout: .identity, finetunedLayout: layout, problem: nil)
            XCTAssertTrue(ReorderedBlocks.applies(to: pair))
            let width = dtype.bitWidth / 8
            XCTAssertEqual(ReorderedBlocks.blockElements(pair, targetBytes: 3 * inputs * width), 3 * inputs)
            let stored = Self.stored(finetuned, layout, dtype: dtype)
            let (sums, blocks) = Self.blocked(pair, base: DiffKernelTests.encode(base, as: dtype, offset: 0), finetuned: stored,
                                              targetBytes: 3 * inputs * width)
            XCTAssertEqual(blocks, 24, "70 rows in blocks of 3")
            // The reference sees each side as the stored dtype rounds it.
            let rounded = { (v: [Double]) in v.map { dtype == .f16 ? Double(Float16(Float($0))) : Double(Float($0)) } }
            let expected = Self.reference(rounded(base), rounded(finetuned))
            XCTAssertEqual(expected.nonFinite, 1)
            assertMatches(sums, expected)
        }
    }

    /// Both sides reordered, each its own way: a KerasHub per-head query kernel (heads 3, hidden 10,
    /// head_dim 4; axes 0, 2, 1) against a TF kernel (10, 12), in blocks of 2 rows of 10 (the last
    /// one 2 rows too: 12 rows) and of 5 rows (the last one 2 rows).
    func testPermutedAgainstTransposedKernel() throws {
        let (heads, hidden, headDim) = (3, 10, 4)
        let out = heads * headDim
        let base = Self.values(out * hidden, seed: 5)
        let finetuned = Self.values(out * hidden, seed: 6)
        let baseLayout = ElementLayout.permuted(shape: [heads, hidden, headDim], axes: [0, 2, 1])
        let finetunedLayout = ElementLayout.transposed(rows: hidden, columns: out)
        let pair = TensorPair(base: TensorInfo(name: "q", dtype: .f32, shape: [heads, hidden, headDim], byteCount: out * hidden * 4),
                              finetuned: TensorInfo(name: "k", dtype: .f32, shape: [hidden, out], byteCount: out * hidden * 4),
                              role: ParameterNames.role(of: "encoder.layer.0.attention.self.query.weight", dtype: .f32),
                              baseLayout: baseLayout, finetunedLayout: finetunedLayout, problem: nil)
        let expected = Self.reference(base.map { Double(Float($0)) }, finetuned.map { Double(Float($0)) })
        for (rowsPerBlock, blockCount) in [(2, 6), (5, 3)] {
            let (sums, blocks) = Self.blocked(pair, base: Self.stored(base, baseLayout, dtype: .f32),
                                              finetuned: Self.stored(finetuned, finetunedLayout, dtype: .f32),
                                              targetBytes: rowsPerBlock * hidden * 4)
            XCTAssertEqual(blocks, blockCount)
            assertMatches(sums, expected)
        }
    }

    /// A block of the transpose and of the permutation is the matching rows of the whole one.
    func testBlocksOfAReorderingAreRowsOfTheWhole() {
        for (layout, count) in [(ElementLayout.transposed(rows: 9, columns: 13), 117), (.permuted(shape: [3, 5, 6], axes: [2, 0, 1]), 90)] {
            let source = (0..<count).map { UInt32($0) }
            var whole = [UInt32](repeating: 0, count: count)
            source.withUnsafeBytes { s in whole.withUnsafeMutableBytes { layout.toPyTorch(s, width: 4, into: $0) } }
            let row = layout.rowLength
            for first in stride(from: 0, to: count, by: row) {
                for rows in 1...3 where first + rows * row <= count {
                    var block = [UInt32](repeating: 0, count: rows * row)
                    source.withUnsafeBytes { s in
                        block.withUnsafeMutableBytes { layout.toPyTorch(s, width: 4, elements: first..<(first + rows * row), into: $0) }
                    }
                    XCTAssertEqual(block, Array(whole[first..<(first + rows * row)]), "\(layout) from \(first)")
                }
            }
        }
    }

    /// End to end through ``CheckpointDiff``: a PyTorch weight (1,100 x 300, F32) against its TF
    /// kernel, over two 512 KB blocks of whole kernel blocks, with a NaN and a changed region.
    func testDiffOfATFKernelMatchesPlainLoops() throws {
        let (out, inputs) = (1_100, 300)
        let base = Self.values(out * inputs, seed: 21)
        var finetuned = base
        for i in stride(from: 5, to: base.count, by: 7) { finetuned[i] += 0.5 }
        finetuned[999 * inputs + 299] = .nan
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let basePath = directory.appendingPathComponent("base.safetensors")
        let finetunedPath = directory.appendingPathComponent("ft.safetensors")
        try Self.writeSafetensors("bert.encoder.layer.0.intermediate.dense.weight", shape: [out, inputs],
                                  bytes: DiffKernelTests.encode(base, as: .f32, offset: 0), to: basePath)
        try Self.writeSafetensors("tf_bert_model/bert/encoder/layer_._0/intermediate/dense/kernel:0", shape: [inputs, out],
                                  bytes: Self.stored(finetuned, .transposed(rows: inputs, columns: out), dtype: .f32), to: finetunedPath)
        let diff = try CheckpointDiff(base: try CheckpointOpener.open(basePath.path), finetuned: try CheckpointOpener.open(finetunedPath.path))
        let tensor = try XCTUnwrap(diff.tensors.first)
        XCTAssertTrue(tensor.transposed)
        let pair = TensorPair(base: TensorInfo(name: "w", dtype: .f32, shape: [out, inputs], byteCount: 0),
                              finetuned: TensorInfo(name: "k", dtype: .f32, shape: [inputs, out], byteCount: 0), role: tensor.role,
                              baseLayout: .identity, finetunedLayout: .transposed(rows: inputs, columns: out), problem: nil)
        XCTAssertGreaterThan(out * inputs, ReorderedBlocks.blockElements(pair), "more than one block")
        let expected = Self.reference(base.map { Double(Float($0)) }, finetuned.map { Double(Float($0)) })
        assertMatches(try XCTUnwrap(tensor.sums), expected)
    }

    /// A one-tensor safetensors file.
    static func writeSafetensors(_ name: String, shape: [Int], bytes: [UInt8], to url: URL) throws {
        var header = Array("{\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[0,\(bytes.count)]}}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var data = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) }
        data += header + bytes
        try Data(data).write(to: url)
    }
}
