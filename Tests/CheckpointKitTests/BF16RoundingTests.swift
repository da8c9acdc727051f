import Foundation
import XCTest
@testable import CheckpointKit

/// Fine-tunes trained or stored in BF16 and saved as F32, diffed against their F32 base
/// (``HalfPrecisionRounding``): each regime of fixtures/regime rounded through BF16, LayerNorm tuning in F32
/// on a BF16 copy of the base, a base holding NaN and infinity, and an F32 fine-tune whose few
/// changed tensors hold BF16 values by accident. Expected values are PyTorch's
/// (fixtures/make_rounding_fixtures.py, fixtures/rounding/expected.json).
final class BF16RoundingTests: XCTestCase {
    func expected() throws -> [String: [String: Any]] { try RoundingFixtures.expected("rounding") }

    func diff(_ name: String, _ want: [String: Any], options: CheckpointDiff.Options = .init()) throws -> CheckpointDiff {
        try RoundingFixtures.diff("rounding", name, want, options: options)
    }

    func checkTensors(_ diff: CheckpointDiff, _ want: [String: Any], _ name: String) throws {
        try RoundingFixtures.checkTensors(diff, want, name, through: .bf16)
    }

    func testRegimesAndCountsMatchPyTorch() throws {
        for (name, want) in try expected().sorted(by: { $0.key < $1.key }) {
            let diff = try diff(name, want)
            let regime = FineTuningRegime(diff)
            XCTAssertEqual(regime.identifier, want["identifier"] as? String, "\(name): \(regime.line)")
            XCTAssertEqual(regime.roundedThrough?.rawValue, want["rounded_through"] as? String, name)
            XCTAssertNil(regime.savedAs, name)
            try checkTensors(diff, want, name)
        }
    }


    /// The same numbers however the tensors are cut into work items (a chunk may hold BF16 values
    /// only on both sides while another of the same pair does not).
    func testChunkingDoesNotChangeTheAnswer() throws {
        let all = try expected()
        for name in ["full", "mixed", "nan"] {
            let want = try XCTUnwrap(all[name])
            for chunk in [5, 8, 100, 1000] {
                try checkTensors(try diff(name, want, options: .init(workers: 2, chunkElements: chunk)), want, "\(name) chunk \(chunk)")
            }
        }
    }

    /// The regime line names the rounding, and the JSON document carries it.
    func testLineAndJSON() throws {
        let want = try XCTUnwrap(try expected()["layernorm"])
        let diff = try diff("layernorm", want)
        let regime = FineTuningRegime(diff)
        XCTAssertTrue(regime.line.hasPrefix("regime: LayerNorm-only fine-tuning (112 of 5,232 parameters changed, all in LayerNorm), "
            + "rounded through BF16 (the other 41 tensors are the base rounded to BF16, saved as F32)"), regime.line)
        let document = DiffDocument(diff: diff, metric: .relative)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: try document.jsonData()) as? [String: Any])
        let entry = try XCTUnwrap(json["regime"] as? [String: Any])
        XCTAssertEqual(entry["rounded_through"] as? String, "BF16")
        XCTAssertTrue(entry["saved_as"] is NSNull)
        let tensors = try XCTUnwrap(json["tensors"] as? [[String: Any]])
        let query = try XCTUnwrap(tensors.first { $0["name"] as? String == "encoder.layer.0.attention.self.query.weight" })
        XCTAssertEqual(query["converted_to"] as? String, "BF16")
        XCTAssertEqual(query["changed"] as? Int, 0)
        XCTAssertEqual(query["raw_changed"] as? Int, 64)
    }

    /// Through a rounding to BF16 a masked update is not told from a dense one whose small steps
    /// vanished: the line says sparsity is not judged.
    func testSparsityIsNotJudgedThroughTheRounding() throws {
        let want = try XCTUnwrap(try expected()["sparse"])
        let regime = FineTuningRegime(try diff("sparse", want))
        XCTAssertEqual(regime.kind, .full, regime.line)
        XCTAssertTrue(regime.line.contains("rounded through BF16 (55 tensors compared with the base rounded to BF16, saved as F32; "
            + "changes under half a BF16 step do not show, so sparsity is not judged)"), regime.line)
    }

    /// The base rounded through BF16 is not the base: no tensor changed, but nothing is identical
    /// (`diff --exit-code` reports a difference).
    func testRoundedBaseIsNotIdentical() throws {
        let want = try XCTUnwrap(try expected()["identical"])
        let diff = try diff("identical", want)
        XCTAssertFalse(diff.isIdentical)
        XCTAssertTrue(diff.tensors.allSatisfy { !$0.isIdentical && $0.changed == 0 })
        let regime = FineTuningRegime(diff)
        XCTAssertTrue(regime.line.hasPrefix("regime: no parameter changed (no parameter changed), rounded through BF16 (all 55 tensors"), regime.line)
        let base = Fixtures.path("regime/base.safetensors")
        XCTAssertTrue(try CheckpointDiff(base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(base)).isIdentical)
    }

    /// A plain F32 fine-tune is never compared with a rounded base.
    func testF32FineTunesAreUntouched() throws {
        for regime in RegimeRuleTests.regimes {
            let diff = try CheckpointDiff(base: try CheckpointOpener.open(Fixtures.path("regime/base.safetensors")),
                                          finetuned: try CheckpointOpener.open(Fixtures.path("regime/ft-\(regime).safetensors")))
            XCTAssertTrue(diff.tensors.allSatisfy { $0.conversion == nil && $0.rawSums == nil }, regime)
            XCTAssertNil(FineTuningRegime(diff).roundedThrough, regime)
        }
    }

    func testBF16Check() {
        let values: [Float] = [1, -2.5, 0, .infinity, Float(bitPattern: 0xFFFF_0000)]
        values.withUnsafeBytes { XCTAssertTrue(HalfPrecisionRounding.isExact($0, count: values.count, in: .bf16)) }
        var more = Array(repeating: Float(1), count: 3000)
        more[2999] = 1.0000001
        more.withUnsafeBytes {
            XCTAssertFalse(HalfPrecisionRounding.isExact($0, count: 3000, in: .bf16))
            XCTAssertTrue(HalfPrecisionRounding.isExact($0, count: 2999, in: .bf16))
        }
    }
}
