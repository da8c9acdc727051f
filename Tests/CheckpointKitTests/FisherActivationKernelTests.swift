import CKernels
import Foundation
import XCTest
@testable import CheckpointKit

/// CKernels' encoder activations (`ckpt_gelu`, `ckpt_softmax_rows`, `ckpt_layer_norm`,
/// `ckpt_layer_norm_backward`): both instruction-set copies agree bit for bit, each row's result
/// depends on that row alone, and the values match libm's `erfc`/`exp` and sums in `Double`.
final class FisherActivationKernelTests: XCTestCase {
    static let isas = [CKPT_ISA_PORTABLE] + (ckpt_isa_available(CKPT_ISA_AVX2) != 0 ? [CKPT_ISA_AVX2] : [])

    static func normals(_ count: Int, seed: UInt64, scale: Double = 1) -> [Float] {
        var generator = NormalGenerator(seed: seed)
        return (0..<count).map { _ in Float(scale * generator.next()) }
    }

    /// GELU and its derivative over [-9, 9] against `x Phi(x)` with Phi from libm's double `erfc`
    /// (relative to the value, plus 1e-12 absolute where both vanish).
    func testGELUMatchesDoubleErfc() {
        let cols = 37, rows = 100
        let input = (0..<(rows * cols)).map { Float(-9 + 18 * Double($0) / Double(rows * cols)) }
        let bias = [Float](repeating: 0, count: cols)
        var outputs: [[Float]] = []
        for isa in Self.isas {
            var y = input, derivative = [Float](repeating: 0, count: input.count)
            ckpt_gelu_isa(isa, &y, Int64(rows), Int64(cols), bias, &derivative)
            for (i, v) in input.enumerated() {
                let x = Double(v), cdf = 0.5 * erfc(-x / 2.0.squareRoot())
                let density = exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
                let value = x * cdf, slope = cdf + x * density
                XCTAssertEqual(Double(y[i]), value, accuracy: 5e-6 * abs(value) + 1e-12, "GELU(\(v))")
                // The derivative is a sum of two terms that cancel near x = -0.75: relative to them.
                XCTAssertEqual(Double(derivative[i]), slope, accuracy: 2e-6 * (cdf + abs(x) * density) + 1e-12, "GELU'(\(v))")
            }
            outputs.append(y + derivative)
        }
        XCTAssertEqual(Set(outputs.map { $0.map(\.bitPattern) }).count, 1, "the instruction-set copies differ")
        var nan: [Float] = [.nan, 1], derivative: [Float] = [0, 0]
        ckpt_gelu(&nan, 1, 2, [0, 0], &derivative)
        XCTAssertTrue(nan[0].isNaN && derivative[0].isNaN)
    }

    func testSoftmaxMatchesDoubleAndRowsAreIndependent() {
        let count = 43, rows = 5
        let input = Self.normals(rows * count, seed: 7, scale: 6)
        var outputs: [[Float]] = []
        for isa in Self.isas {
            var p = input
            ckpt_softmax_rows_isa(isa, &p, Int64(rows), Int64(count))
            for r in 0..<rows {
                let row = input[(r * count)..<((r + 1) * count)].map(Double.init)
                let m = row.max()!, sum = row.reduce(0) { $0 + exp($1 - m) }
                for j in 0..<count {
                    let exact = exp(row[j] - m) / sum
                    XCTAssertEqual(Double(p[r * count + j]), exact, accuracy: 3e-6 * exact)
                }
                var one = Array(input[(r * count)..<((r + 1) * count)])
                ckpt_softmax_rows_isa(isa, &one, 1, Int64(count))
                XCTAssertEqual(one.map(\.bitPattern), p[(r * count)..<((r + 1) * count)].map(\.bitPattern), "row \(r)")
            }
            outputs.append(p)
        }
        XCTAssertEqual(Set(outputs.map { $0.map(\.bitPattern) }).count, 1, "the instruction-set copies differ")
        var nanRow: [Float] = [1, .nan, 2]
        ckpt_softmax_rows(&nanRow, 1, 3)
        XCTAssertTrue(nanRow.allSatisfy(\.isNaN))
    }

    /// LayerNorm forward and backward (one example of `rows` rows) against the formulas in `Double`.
    func testLayerNormMatchesDouble() {
        let width = 45, rows = 4, eps: Float = 1e-12
        let x = Self.normals(rows * width, seed: 11, scale: 3), dy = Self.normals(rows * width, seed: 12)
        let weight = Self.normals(width, seed: 13), bias = Self.normals(width, seed: 14)
        var outputs: [[Float]] = []
        for isa in Self.isas {
            var xhat = [Float](repeating: 0, count: x.count), rstd = [Float](repeating: 0, count: rows), y = xhat
            ckpt_layer_norm_isa(isa, x, Int64(rows), Int64(width), weight, bias, eps, &xhat, &rstd, &y)
            var dw = [Float](repeating: 0, count: width), db = dw, dx = xhat
            ckpt_layer_norm_backward_isa(isa, dy, Int64(rows), Int64(width), xhat, rstd, weight, &dw, &db, &dx)
            var expectedDW = [Double](repeating: 0, count: width), expectedDB = expectedDW
            for r in 0..<rows {
                let row = x[(r * width)..<((r + 1) * width)].map(Double.init), g = dy[(r * width)..<((r + 1) * width)].map(Double.init)
                let mean = row.reduce(0, +) / Double(width)
                let inv = 1 / (row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width) + Double(eps)).squareRoot()
                let xh = row.map { ($0 - mean) * inv }
                let d = (0..<width).map { g[$0] * Double(weight[$0]) }
                let meanD = d.reduce(0, +) / Double(width), meanDX = (0..<width).reduce(0) { $0 + d[$1] * xh[$1] } / Double(width)
                for j in 0..<width {
                    XCTAssertEqual(Double(y[r * width + j]), xh[j] * Double(weight[j]) + Double(bias[j]), accuracy: 1e-5)
                    XCTAssertEqual(Double(dx[r * width + j]), inv * (d[j] - meanD - xh[j] * meanDX), accuracy: 1e-5 * inv)
                    expectedDW[j] += g[j] * xh[j]
                    expectedDB[j] += g[j]
                }
            }
            for j in 0..<width {
                XCTAssertEqual(Double(dw[j]), expectedDW[j], accuracy: 1e-5)
                XCTAssertEqual(Double(db[j]), expectedDB[j], accuracy: 1e-5)
            }
            outputs.append(y + xhat + rstd + dw + db + dx)
        }
        XCTAssertEqual(Set(outputs.map { $0.map(\.bitPattern) }).count, 1, "the instruction-set copies differ")
    }
}
