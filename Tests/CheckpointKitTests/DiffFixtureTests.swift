import XCTest
@testable import CheckpointKit

/// `CheckpointDiff` on the committed tiny-BERT fine-tunes against numpy float64 values:
/// fixtures/expected/diff/<regime>.json (make_fixtures.py) and
/// fixtures/expected/diff/pairs/<pair>.json (make_diff_fixtures.py).
final class DiffFixtureTests: XCTestCase {
    static let regimes = ["full", "layernorm", "bias", "last1"]

    func diff(_ base: String, _ finetuned: String, options: CheckpointDiff.Options = .init()) throws -> CheckpointDiff {
        try CheckpointDiff(base: CheckpointOpener.open(Fixtures.path(base)),
                           finetuned: CheckpointOpener.open(Fixtures.path(finetuned)), options: options)
    }

    func expected(_ relative: String) throws -> [String: Any] {
        try XCTUnwrap(Fixtures.json(relative) as? [String: Any])
    }

    func testPerTensorNumbersMatchNumpyForEveryRegime() throws {
        for regime in Self.regimes {
            let diff = try diff("tiny-bert/base", "tiny-bert/ft-\(regime)")
            try assertTensorsMatch(diff, expected("expected/diff/\(regime).json"))
        }
    }

    func testGroupsMatchNumpy() throws {
        for regime in Self.regimes {
            let expectation = try expected("expected/diff/\(regime).json")
            let groups = DifferenceGroups(try diff("tiny-bert/base", "tiny-bert/ft-\(regime)").tensors)
            assertGroupsMatch(groups.byComponent, try XCTUnwrap(expectation["by_component"] as? [[String: Any]]), "\(regime) component")
            assertGroupsMatch(groups.byLayer, try XCTUnwrap(expectation["by_layer"] as? [[String: Any]]), "\(regime) layer")
            var overall = try XCTUnwrap(expectation["overall"] as? [String: Any])
            overall["tensors"] = groups.overall.tensors
            assertGroupsMatch([groups.overall], [overall], "\(regime) overall")
        }
    }

    func testRegimeLineNamesEachFineTune() throws {
        let lines: [String: String] = [
            "full": "regime: full fine-tuning (39,232 of 39,264 parameters changed, in every tensor; word_embeddings: 1 of 58 rows unchanged, tokens absent from the training data)",
            "layernorm": "regime: LayerNorm-only fine-tuning (576 of 39,264 parameters changed, all in LayerNorm)",
            "bias": "regime: bias-only fine-tuning (BitFit) (1,216 of 39,264 parameters changed, all biases)",
            "last1": "regime: last 1 layer fine-tuned (9,600 of 39,264 parameters changed, all in layer 3 and the pooler)",
        ]
        for regime in Self.regimes {
            let expectation = try expected("expected/diff/\(regime).json")
            let result = FineTuningRegime(try diff("tiny-bert/base", "tiny-bert/ft-\(regime)"))
            XCTAssertEqual(result.identifier, expectation["regime"] as? String)
            XCTAssertTrue(result.line.hasPrefix(lines[regime]!), result.line)
            XCTAssertTrue(result.line.hasSuffix("; new head: classifier.bias, classifier.weight (66 parameters)"), result.line)
        }
    }

    func testIdenticalPairAndSelfDiff() throws {
        let same = try diff("tiny-bert/base", "tiny-bert/base")
        XCTAssertTrue(same.isIdentical)
        XCTAssertEqual(FineTuningRegime(same).kind, .unchanged)
        XCTAssertTrue(same.tensors.allSatisfy { $0.relativeChange == 0 && $0.changed == 0 && $0.cosine.map { abs($0 - 1) < 1e-12 } ?? true })
        // The sharded copy of the base is the same parameters in another layout on disk.
        XCTAssertTrue(try diff("tiny-bert/base", "tiny-bert/variants/sharded").isIdentical)
        XCTAssertFalse(try diff("tiny-bert/base", "tiny-bert/ft-layernorm").isIdentical)
        // Only the new head differs: not identical, head-only regime.
        let probe = try diff("tiny-bert/base", "tiny-bert/ft-full")
        XCTAssertFalse(probe.isIdentical)
    }

    func testHalfPrecisionAndTransposedPairsMatchNumpy() throws {
        for pair in ["f16-f16", "bf16-bf16", "f32-f16", "bf16-f32", "tf-names"] {
            let expectation = try expected("expected/diff/pairs/\(pair).json")
            let diff = try diff(try XCTUnwrap(expectation["base"] as? String), try XCTUnwrap(expectation["finetuned"] as? String))
            try assertTensorsMatch(diff, expectation)
            if pair == "tf-names" {
                XCTAssertEqual(diff.tensors.filter(\.transposed).count, 25, "every dense kernel is transposed")
            }
        }
    }

    /// The tiny base saved by transformers as tf_model.h5 (HDF5, TF names, kernels transposed)
    /// against the PyTorch fine-tune gives numpy's numbers for the PyTorch pair.
    func testTFModelH5BaseMatchesNumpy() throws {
        let diff = try diff("tiny-bert/variants/tf_model.h5", "tiny-bert/ft-full")
        XCTAssertEqual(diff.baseFormat, .huggingFaceTFH5)
        try assertTensorsMatch(diff, expected("expected/diff/full.json"))
        XCTAssertEqual(diff.tensors.filter(\.transposed).count, 25)
        XCTAssertEqual(FineTuningRegime(diff).identifier, "full")
    }

    /// Checkpoints of unrelated models share nothing: said so, not called a fine-tune.
    func testUnrelatedCheckpointsAreNamedSo() throws {
        let diff = try diff("tiny-bert/base", "tiny-bert/variants/keras3.weights.h5")
        XCTAssertTrue(diff.tensors.isEmpty)
        XCTAssertFalse(diff.isIdentical)
        XCTAssertEqual(FineTuningRegime(diff).kind, .unrelated)
    }

    /// The TF-named, transposed base gives the same numbers as the PyTorch one.
    func testTransposedBaseGivesSameNumbersAsPyTorchBase() throws {
        let direct = try diff("tiny-bert/base", "tiny-bert/ft-full")
        let transposed = try diff("diff/base-tf-names.safetensors", "tiny-bert/ft-full")
        let byName = Dictionary(uniqueKeysWithValues: transposed.tensors.map { ($0.name, $0) })
        for t in direct.tensors {
            let other = try XCTUnwrap(byName[t.name], t.name)
            XCTAssertEqual(t.sums, other.sums, t.name)
        }
    }

    /// Work split into chunks on block boundaries, over one or two workers, merges to bitwise the
    /// same sums; chunks at odd element counts regroup the Float lanes, which moves results only
    /// within rounding.
    func testChunkingAndWorkersDoNotChangeResults() throws {
        let reference = try diff("tiny-bert/base", "tiny-bert/ft-full", options: .init(workers: 1, chunkElements: 1 << 22))
        for options in [CheckpointDiff.Options(workers: 2, chunkElements: 1 << 22), .init(workers: 2, chunkElements: 4096), .init(workers: 1, chunkElements: 4096)] {
            let other = try diff("tiny-bert/base", "tiny-bert/ft-full", options: options)
            for (a, b) in zip(reference.tensors, other.tensors) { XCTAssertEqual(a.sums, b.sums, a.name) }
        }
        for options in [CheckpointDiff.Options(workers: 2, chunkElements: 100), .init(workers: 2, chunkElements: 7)] {
            let other = try diff("tiny-bert/base", "tiny-bert/ft-full", options: options)
            for (a, b) in zip(reference.tensors, other.tensors) {
                let x = try XCTUnwrap(a.sums), y = try XCTUnwrap(b.sums)
                XCTAssertEqual(x.changed, y.changed)
                XCTAssertEqual(x.count, y.count)
                for (p, q) in [(x.maxAbsoluteDelta, y.maxAbsoluteDelta), (x.deltaSquares, y.deltaSquares), (x.baseSquares, y.baseSquares),
                               (x.absoluteDelta, y.absoluteDelta), (x.product, y.product)] {
                    XCTAssertEqual(p, q, accuracy: 1e-6 * max(abs(p), 1e-30), a.name)
                }
            }
        }
    }

    func testShapeMismatchIsReportedNotFatal() throws {
        let base = [TensorInfo(name: "encoder.layer.0.output.dense.weight", dtype: .f32, shape: [4, 8], byteCount: 128)]
        let ft = [TensorInfo(name: "encoder.layer.0.output.dense.weight", dtype: .f32, shape: [4, 9], byteCount: 144)]
        let alignment = CheckpointAlignment(base: base, finetuned: ft)
        XCTAssertNotNil(alignment.pairs.first?.problem)
        let plan = DiffPlan(alignment: alignment, base: try CheckpointOpener.open(Fixtures.path("tiny-bert/base")),
                            finetuned: try CheckpointOpener.open(Fixtures.path("tiny-bert/base")), chunkElements: 1 << 22)
        XCTAssertTrue(plan.items.isEmpty)
        guard case .notCompared = plan.verdicts[0] else { return XCTFail("expected the pair not to be compared") }
    }

    func testJSONDocumentHasTheContractFields() throws {
        let document = DiffDocument(diff: try diff("tiny-bert/base", "tiny-bert/ft-bias"), metric: .meanAbs)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: document.jsonData()) as? [String: Any])
        for key in ["tensors", "groups", "only_in_base", "only_in_finetuned", "regime", "identical", "metric", "overall"] {
            XCTAssertNotNil(object[key], key)
        }
        let tensor = try XCTUnwrap((object["tensors"] as? [[String: Any]])?.first)
        for key in ["name", "base_name", "finetuned_name", "numel", "base_l2", "delta_l2", "relative_change", "mean_abs_delta",
                    "max_abs_delta", "changed", "cosine", "component", "kind", "layer", "bias_type", "base_dtype", "finetuned_dtype"] {
            XCTAssertTrue(tensor.keys.contains(key), key)
        }
        let groups = try XCTUnwrap(object["groups"] as? [String: Any])
        for key in ["component", "kind", "bias_type", "layer", "layer_component"] { XCTAssertNotNil(groups[key], key) }
        let regime = try XCTUnwrap(object["regime"] as? [String: Any])
        XCTAssertEqual(regime["identifier"] as? String, "bias")
        XCTAssertEqual(object["only_in_finetuned"] as? [String], ["classifier.bias", "classifier.weight"])
        let biasTypes = try XCTUnwrap(groups["bias_type"] as? [[String: Any]])
        XCTAssertEqual(biasTypes.compactMap { $0["rank"] as? Int }.sorted(), Array(1...biasTypes.count))
    }

    func testCSVHasOneRowPerTensor() throws {
        let diff = try diff("tiny-bert/base", "tiny-bert/ft-last1")
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("diff.csv").path
        try DiffCSV.write(diff, to: path)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, diff.tensors.count + 1)
        XCTAssertEqual(String(lines[0]), DiffCSV.columns.joined(separator: ","))
        XCTAssertEqual(lines[1].split(separator: ",", omittingEmptySubsequences: false).count, DiffCSV.columns.count)
    }
}
