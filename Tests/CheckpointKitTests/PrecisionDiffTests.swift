import XCTest
@testable import CheckpointKit

/// `ckpt diff` across a change of precision (issue 18), on the real all-MiniLM-L6-v2 data that
/// `scripts/dev.sh data` builds (data/minilm/precision, checked there against PyTorch): entries
/// count as changed only where they differ from the base converted to the fine-tune's dtype as
/// PyTorch converts it; the raw difference from the stored base is reported beside it. Expected
/// values are PyTorch's (fixtures/minilm/precision.json, fixtures/make_precision_fixtures.py).
final class PrecisionDiffTests: XCTestCase {
    static let cases: [(base: String, finetuned: String, identifier: String, clause: String)] = [
        ("base", "precision/ft-layernorm-bf16", "layernorm", ", saved as BF16 (the other 77 tensors are the base rounded to BF16)"),
        ("base", "precision/ft-bias-f16", "bias", ", saved as F16 (the other 53 tensors are the base rounded to F16)"),
        ("precision/base-bf16", "precision/ft-layernorm-f32-from-bf16", "layernorm", ", saved as F32 (the other 77 tensors are the base widened to F32)"),
        // Against the F32 base, the untouched tensors are the base rounded to BF16 (BF16Rounding).
        ("base", "precision/ft-layernorm-f32-from-bf16", "layernorm", ", rounded through BF16 (all 76 tensors are the base rounded to BF16, saved as F32)"),
    ]

    func open(_ name: String) throws -> any Checkpoint {
        try CheckpointOpener.open(try DiffRealCheckpointTests.present(name))
    }

    func testRegimeNamesTrainingAndConversion() throws {
        for c in Self.cases {
            let diff = try CheckpointDiff(base: try open(c.base), finetuned: try open(c.finetuned))
            let regime = FineTuningRegime(diff)
            XCTAssertEqual(regime.identifier, c.identifier, regime.line)
            XCTAssertTrue(regime.line.contains(c.clause), regime.line)
            XCTAssertFalse(regime.line.contains("rounding counts as change"), regime.line)
        }
    }

    func testChangedAndRawMeasuresMatchPyTorch() throws {
        let fixture = try XCTUnwrap(Fixtures.json("minilm/precision.json") as? [String: Any])
        let expected = try XCTUnwrap(fixture["expected_diff"] as? [String: [String: Any]])
        for c in Self.cases {
            let values = try XCTUnwrap(expected["\(c.base) \(c.finetuned)"]?["tensors"] as? [String: [String: Any]])
            let diff = try CheckpointDiff(base: try open(c.base), finetuned: try open(c.finetuned))
            var checked = 0
            for t in diff.tensors {
                guard let e = values[t.baseName] else { continue }
                checked += 1
                XCTAssertEqual(t.conversion?.rawValue, e["converted_to"] as? String, t.baseName)
                XCTAssertEqual(t.changed, e["changed"] as? Int, t.baseName)
                XCTAssertEqual(t.raw.changed, e["raw_changed"] as? Int, t.baseName)
                let deltaL2 = try XCTUnwrap(e["delta_l2"] as? Double), rawDeltaL2 = try XCTUnwrap(e["raw_delta_l2"] as? Double)
                XCTAssertEqual(try XCTUnwrap(t.deltaL2), deltaL2, accuracy: 1e-6 * max(deltaL2, 1e-30), t.baseName)
                XCTAssertEqual(try XCTUnwrap(t.raw.deltaL2), rawDeltaL2, accuracy: 1e-6 * max(rawDeltaL2, 1e-30), t.baseName)
            }
            XCTAssertEqual(checked, values.count, c.finetuned)
        }
    }

    func testJSONAndCSVCarryBothMeasures() throws {
        let c = Self.cases[0]
        let diff = try CheckpointDiff(base: try open(c.base), finetuned: try open(c.finetuned))
        let document = DiffDocument(diff: diff, metric: .relative)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: try document.jsonData()) as? [String: Any])
        XCTAssertEqual((json["regime"] as? [String: Any])?["saved_as"] as? String, "BF16")
        let tensors = try XCTUnwrap(json["tensors"] as? [[String: Any]])
        let word = try XCTUnwrap(tensors.first { $0["base_name"] as? String == "embeddings.word_embeddings.weight" })
        XCTAssertEqual(word["converted_to"] as? String, "BF16")
        XCTAssertEqual(word["changed"] as? Int, 0)
        XCTAssertGreaterThan(try XCTUnwrap(word["raw_changed"] as? Int), 10_000_000)
        let csv = DiffCSV.text(diff).split(separator: "\n")
        let header = csv[0].split(separator: ",", omittingEmptySubsequences: false)
        XCTAssertEqual(Array(header.suffix(6)), ["converted_to", "raw_delta_l2", "raw_relative_change", "raw_mean_abs_delta", "raw_max_abs_delta", "raw_changed"])
    }

    /// Same dtypes: nothing converted, the raw measures are the measures.
    func testSameDTypePairsAreUntouched() throws {
        let diff = try CheckpointDiff(base: try open("base"), finetuned: try open("ft-layernorm"))
        XCTAssertTrue(diff.tensors.allSatisfy { $0.conversion == nil && $0.rawSums == nil })
        XCTAssertNil(FineTuningRegime(diff).savedAs)
    }
}
