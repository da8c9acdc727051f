import Foundation
import XCTest
@testable import CheckpointKit

/// Fine-tunes trained or stored in F16 and saved as F32 (a `model.half()` run saved back as
/// float32), diffed against their F32 base (``HalfPrecisionRounding``): each regime of
/// fixtures/regime rounded through F16, and a base holding NaN and infinity. Before, the
/// LayerNorm-only and bias-only ones read as "full fine-tuning". Expected values are numpy's
/// (IEEE round to nearest even, as PyTorch's `half()`; fixtures/make_f16_rounding_fixtures.py,
/// fixtures/rounding-f16/expected.json).
final class F16RoundingTests: XCTestCase {
    func expected() throws -> [String: [String: Any]] { try RoundingFixtures.expected("rounding-f16") }

    func diff(_ name: String, _ want: [String: Any], options: CheckpointDiff.Options = .init()) throws -> CheckpointDiff {
        try RoundingFixtures.diff("rounding-f16", name, want, options: options)
    }

    func checkTensors(_ diff: CheckpointDiff, _ want: [String: Any], _ name: String) throws {
        try RoundingFixtures.checkTensors(diff, want, name, through: .f16)
    }

    func testRegimesAndCountsMatchNumpy() throws {
        for (name, want) in try expected().sorted(by: { $0.key < $1.key }) {
            let diff = try diff(name, want)
            let regime = FineTuningRegime(diff)
            XCTAssertEqual(regime.identifier, want["identifier"] as? String, "\(name): \(regime.line)")
            XCTAssertEqual(regime.roundedThrough, .f16, name)
            XCTAssertNil(regime.savedAs, name)
            try checkTensors(diff, want, name)
        }
    }


    /// The same numbers however the tensors are cut into work items.
    func testChunkingDoesNotChangeTheAnswer() throws {
        let all = try expected()
        for name in ["full", "nan"] {
            let want = try XCTUnwrap(all[name])
            for chunk in [5, 8, 100, 1000] {
                try checkTensors(try diff(name, want, options: .init(workers: 2, chunkElements: chunk)), want, "\(name) chunk \(chunk)")
            }
        }
    }

    /// The line names the rounding (and, for the masked update, that sparsity is not judged);
    /// the JSON document carries it.
    func testLineAndJSON() throws {
        let all = try expected()
        let layernorm = FineTuningRegime(try diff("layernorm", try XCTUnwrap(all["layernorm"])))
        XCTAssertTrue(layernorm.line.hasPrefix("regime: LayerNorm-only fine-tuning (112 of 5,232 parameters changed, all in LayerNorm), "
            + "rounded through F16 (the other 41 tensors are the base rounded to F16, saved as F32)"), layernorm.line)
        let sparse = FineTuningRegime(try diff("sparse", try XCTUnwrap(all["sparse"])))
        XCTAssertTrue(sparse.line.contains("rounded through F16 (55 tensors compared with the base rounded to F16, saved as F32; "
            + "changes under half an F16 step do not show, so sparsity is not judged)"), sparse.line)
        let document = DiffDocument(diff: try diff("bias", try XCTUnwrap(all["bias"])), metric: .relative)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: try document.jsonData()) as? [String: Any])
        XCTAssertEqual((json["regime"] as? [String: Any])?["rounded_through"] as? String, "F16")
        let tensors = try XCTUnwrap(json["tensors"] as? [[String: Any]])
        let query = try XCTUnwrap(tensors.first { $0["name"] as? String == "encoder.layer.0.attention.self.query.weight" })
        XCTAssertEqual(query["converted_to"] as? String, "F16")
        XCTAssertEqual(query["changed"] as? Int, 0)
    }

    /// The F16 value test against the standard library's own rounding (`Float(Float16(x))`):
    /// every F32 exponent, F16's subnormals, the range's ends, infinity, and random bit patterns.
    func testF16CheckMatchesTheStandardLibrary() {
        var patterns: [UInt32] = [0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x477F_E000, 0x477F_F000, 0x3380_0000, 0x3300_0000,
                                  0x3880_0000, 0x387F_E000, 0x3880_2000, 0x3880_1000]
        for exponent in UInt32(0)..<256 {
            for mantissa: UInt32 in [0, 1, 0x1000, 0x2000, 0x4000, 0x40_0000, 0x7F_E000, 0x7F_FFFF] {
                patterns.append(exponent << 23 | mantissa)
                patterns.append(0x8000_0000 | exponent << 23 | mantissa)
            }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200_000 { patterns.append(UInt32.random(in: 0x3000_0000...0x4800_0000, using: &generator) & ~UInt32(0xFFF)) }
        for bits in patterns {
            let value = Float(bitPattern: bits)
            guard !value.isNaN else { continue }
            let reference = Float(Float16(value)).bitPattern == bits
            XCTAssertEqual(HalfPrecisionRounding.isExact(bits, in: .f16), reference, String(bits, radix: 16))
        }
    }
}
