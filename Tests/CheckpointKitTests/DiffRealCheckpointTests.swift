import XCTest
@testable import CheckpointKit

/// Real fine-tunes of all-MiniLM-L6-v2 (full, LayerNorm-only, bias-only, last two layers), made with
/// PyTorch in /work/data/minilm by the data scripts; skipped where that data is absent.
/// Benchmarks/diff_numpy_check.py checks the same pairs against numpy float64 tensor by tensor.
final class DiffRealCheckpointTests: XCTestCase {
    static let root = ProcessInfo.processInfo.environment["CKPT_MINILM"] ?? "/work/data/minilm"

    func open(_ name: String) throws -> any Checkpoint {
        let path = "\(Self.root)/\(name)"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) not present") }
        return try CheckpointOpener.open(path)
    }

    func testRegimeLineNamesEachRealFineTune() throws {
        let base = try open("base")
        for (directory, identifier) in [("ft-full", "full"), ("ft-layernorm", "layernorm"), ("ft-bias", "bias"), ("ft-last2", "last2")] {
            let diff = try CheckpointDiff(base: base, finetuned: try open(directory))
            XCTAssertEqual(FineTuningRegime(diff).identifier, identifier, FineTuningRegime(diff).line)
            XCTAssertEqual(diff.onlyInFinetuned.map(\.name).sorted(), ["classifier.bias", "classifier.weight"])
        }
    }

    /// The base as tf_model.h5 (TF names, transposed kernels) gives the safetensors base's numbers.
    func testTFBaseGivesTheSameNumbers() throws {
        let safetensors = try CheckpointDiff(base: try open("base"), finetuned: try open("ft-full"))
        let h5 = try CheckpointDiff(base: try open("base-tf"), finetuned: try open("ft-full"))
        XCTAssertEqual(h5.baseFormat, .huggingFaceTFH5)
        let byName = Dictionary(uniqueKeysWithValues: h5.tensors.map { ($0.name, $0) })
        XCTAssertEqual(h5.tensors.count, safetensors.tensors.count)
        for t in safetensors.tensors {
            let other = try XCTUnwrap(byName[t.name], t.name)
            let a = try XCTUnwrap(t.sums), b = try XCTUnwrap(other.sums)
            XCTAssertEqual(a.changed, b.changed, t.name)
            XCTAssertEqual(a.maxAbsoluteDelta, b.maxAbsoluteDelta, t.name)
            for (x, y) in [(a.baseSquares, b.baseSquares), (a.deltaSquares, b.deltaSquares), (a.absoluteDelta, b.absoluteDelta), (a.product, b.product)] {
                XCTAssertEqual(x, y, accuracy: 1e-12 * max(abs(x), 1e-300), t.name)
            }
        }
    }
}

extension DiffRealCheckpointTests {
    /// Per-tensor and group numbers against the numpy float64 expectations written beside the
    /// fine-tunes (expected-diff-REGIME.json).
    func testNumbersMatchNumpyExpectations() throws {
        let base = try open("base")
        for regime in ["full", "layernorm", "bias", "last2"] {
            let path = "\(Self.root)/expected-diff-\(regime).json"
            guard let data = FileManager.default.contents(atPath: path) else { throw XCTSkip("\(path) not present") }
            let expectation = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let diff = try CheckpointDiff(base: base, finetuned: try open("ft-\(regime)"))
            try assertTensorsMatch(diff, expectation)
            let groups = DifferenceGroups(diff.tensors)
            assertGroupsMatch(groups.byComponent, try XCTUnwrap(expectation["by_component"] as? [[String: Any]]), "\(regime) component")
            assertGroupsMatch(groups.byLayer, try XCTUnwrap(expectation["by_layer"] as? [[String: Any]]), "\(regime) layer")
            XCTAssertEqual(FineTuningRegime(diff).identifier, expectation["regime"] as? String)
        }
    }
}
