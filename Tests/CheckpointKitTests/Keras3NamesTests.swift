import XCTest
@testable import CheckpointKit

/// Keras 3 `.weights.h5` files understood (issue 12): KerasHub and plain Keras variables get roles
/// and Hugging Face names, pair with PyTorch checkpoints (EinsumDense kernels reshaped and
/// transposed), and each fine-tuning regime is named. Files and numpy numbers from
/// fixtures/make_keras3_fixtures.py (keras 3.15.1, keras-hub 0.32.0).
final class Keras3NamesTests: XCTestCase {
    func expected() throws -> [String: [String: Any]] {
        let root = try XCTUnwrap(Fixtures.json("keras3/expected.json") as? [String: Any])
        return try XCTUnwrap(root["pairs"] as? [String: [String: Any]])
    }

    func open(_ relative: String) throws -> any Checkpoint { try CheckpointOpener.open(Fixtures.path(relative)) }

    func diff(_ base: String, _ finetuned: String) throws -> CheckpointDiff {
        try CheckpointDiff(base: open(base), finetuned: open(finetuned))
    }

    /// Every Keras pair (KerasHub BERT classifier, GPT-2, Llama, plain Keras) against its
    /// LayerNorm-only and bias-only fine-tunes: numpy's numbers, and the regime named.
    func testEachKerasRegimeIsNamed() throws {
        for (key, expectation) in try expected() where !key.hasPrefix("hf-bert/") {
            let diff = try diff(try XCTUnwrap(expectation["base"] as? String), try XCTUnwrap(expectation["finetuned"] as? String))
            XCTAssertEqual(diff.baseFormat, .keras3WeightsH5, key)
            try assertNumbers(diff, expectation, key)
        }
    }

    /// keras-hub's own conversion of a Hugging Face BERT diffs against the Hugging Face fine-tunes
    /// with the numbers of the Hugging Face base (numpy's): every tensor pairs, the EinsumDense
    /// and Dense kernels transposed.
    func testKerasHubConversionDiffsLikeTheHuggingFaceBase() throws {
        for regime in ["ln", "bias"] {
            let expectation = try XCTUnwrap(try expected()["hf-bert/\(regime)"])
            let diff = try diff("keras3/hf-bert-keras.weights.h5", "keras3/hf-bert/ft-\(regime)")
            XCTAssertTrue(diff.onlyInBase.isEmpty, "\(diff.onlyInBase.map(\.name))")
            XCTAssertTrue(diff.onlyInFinetuned.isEmpty, "\(diff.onlyInFinetuned.map(\.name))")
            try assertNumbers(diff, expectation, "keras vs hf \(regime)")
            // query/key/value/output, intermediate, output (per layer) and the pooler.
            XCTAssertEqual(diff.tensors.filter(\.transposed).count, 2 * 6 + 1)
            // The Hugging Face base gives the same numbers.
            try assertNumbers(try self.diff("keras3/hf-bert/base", "keras3/hf-bert/ft-\(regime)"), expectation, "hf vs hf \(regime)")
        }
        // The conversion against its own source: identical, every tensor paired.
        let same = try diff("keras3/hf-bert-keras.weights.h5", "keras3/hf-bert/base")
        XCTAssertEqual(same.tensors.filter(\.isParameter).count, 39)
        XCTAssertTrue(same.tensors.allSatisfy { $0.changed == 0 }, "\(same.tensors.filter { $0.changed != 0 }.map(\.name))")
    }

    /// keras-hub's conversions of a Hugging Face Llama and GPT-2, and an ELECTRA copied into an
    /// ElectraBackbone by hand (keras-hub has no ELECTRA converter), against their sources: every
    /// tensor pairs and is equal, GPT-2's split query/key/value read as the fused `c_attn`; only
    /// ELECTRA's pooler (which ElectraModel lacks) is in the Keras file alone.
    func testConversionsPairWithTheirSources() throws {
        let root = try XCTUnwrap(Fixtures.json("keras3/expected.json") as? [String: Any])
        let conversions = try XCTUnwrap(root["conversions"] as? [String: [String: Any]])
            .merging(try XCTUnwrap(root["conversions_by_hand"] as? [String: [String: Any]])) { first, _ in first }
        XCTAssertEqual(Set(conversions.keys), ["llama", "gpt2", "electra"])
        for (model, expectation) in conversions {
            let diff = try diff(try XCTUnwrap(expectation["keras"] as? String), try XCTUnwrap(expectation["hf"] as? String))
            let parameters = diff.tensors.filter(\.isParameter)
            XCTAssertEqual(parameters.count, expectation["pairs"] as? Int, model)
            XCTAssertTrue(parameters.allSatisfy { $0.problem == nil && $0.changed == 0 }, "\(model): \(parameters.filter { $0.changed != 0 }.map(\.name))")
            XCTAssertEqual(diff.onlyInFinetuned.map(\.name).sorted(), expectation["only_in_hf"] as? [String], model)
            XCTAssertEqual(diff.onlyInBase.count, expectation["only_in_keras"] as? Int, model)
        }
    }

    /// Roles of a KerasHub task model: layers, components and kinds as for the PyTorch model.
    func testKerasHubRolesAndInspectShares() throws {
        let checkpoint = try open("keras3/bert-cls.weights.h5")
        let names = Set(checkpoint.tensors.map(\.name))
        XCTAssertTrue(names.contains("bert/encoder/layer/1/attention/self/query/kernel"))
        XCTAssertTrue(names.contains("bert/embeddings/LayerNorm/gamma"))
        XCTAssertTrue(names.contains("classifier/kernel"))
        let query = ParameterNames.role(of: "bert/encoder/layer/1/attention/self/query/kernel")
        XCTAssertEqual(query.component, .query)
        XCTAssertEqual(query.layer, 1)
        XCTAssertTrue(query.isTFKernel)
        XCTAssertEqual(ParameterNames.role(of: "classifier/kernel").component, .head)
        let summary = CheckpointSummary(checkpoint)
        XCTAssertEqual(summary.layers, 2)
        XCTAssertNil(summary.parametersByComponent[Component.other.rawValue])
        let layerNorm = try XCTUnwrap(summary.methods.first { $0.method == "layernorm" })
        // 5 LayerNorms of 16 weights and 16 biases.
        XCTAssertEqual(layerNorm.parameters, 5 * 32)
        // Plain Keras keeps its paths, with roles read from them.
        let plain = ParameterNames.role(of: "layers/layer_normalization/vars/1")
        XCTAssertEqual(plain.kind, .layerNormBias)
        XCTAssertEqual(ParameterNames.role(of: "layers/dense_1/vars/0").kind, .weight)
        XCTAssertTrue(ParameterNames.role(of: "layers/dense_1/vars/0").isTFKernel)
        XCTAssertEqual(ParameterNames.role(of: "layers/dense_1/vars/1").kind, .bias)
    }

    /// A KerasHub backbone against a task model of the same sizes (a compiled one, which saves
    /// optimizer variables): the backbone pairs, the new head is the classifier alone.
    func testBackboneAgainstTaskModelNamesTheClassifierAsNewHead() throws {
        let diff = try diff("keras3/hf-bert-keras.weights.h5", "keras3/bert-cls.weights.h5")
        XCTAssertEqual(diff.tensors.filter(\.isParameter).count, 39)
        XCTAssertTrue(diff.onlyInBase.isEmpty)
        XCTAssertEqual(Set(FineTuningRegime(diff).newTensors.map(\.name)), ["classifier/kernel", "classifier/bias"])
    }

    /// Llama's EinsumDense kernels (hidden, heads, head_dim) with grouped key/value heads, and the
    /// untied output embedding, get Hugging Face names.
    func testLlamaNames() throws {
        let checkpoint = try open("keras3/llama.weights.h5")
        let byName = Dictionary(uniqueKeysWithValues: checkpoint.tensors.map { ($0.name, $0) })
        XCTAssertEqual(byName["model/layers/0/self_attn/k_proj/kernel"]?.shape, [16, 2, 4])
        XCTAssertEqual(byName["lm_head/kernel"]?.shape, [16, 30])
        XCTAssertEqual(ParameterNames.role(of: "model/layers/1/post_attention_layernorm/weight").component, .outputLayerNorm)
        let pair = CheckpointAlignment.pair(base: TensorInfo(name: "model/layers/0/self_attn/k_proj/kernel", dtype: .f32, shape: [16, 2, 4], byteCount: 512),
                                            finetuned: TensorInfo(name: "model.layers.0.self_attn.k_proj.weight", dtype: .f32, shape: [8, 16], byteCount: 512))
        XCTAssertEqual(pair.baseLayout, .transposed(rows: 16, columns: 8))
        XCTAssertNil(pair.problem)
    }

    /// A file of unknown layers still inspects, with raw paths, component other, and one note.
    func testUnknownLayoutKeepsRawPathsAndSaysSo() throws {
        let checkpoint = try open("keras3/unknown.weights.h5")
        XCTAssertEqual(checkpoint.tensors.map(\.name), ["layers/my_block/vars/0", "layers/my_block/vars/1"])
        XCTAssertTrue(checkpoint.tensors.allSatisfy { ParameterNames.role(of: $0.name).component == .other })
        XCTAssertNil(Keras3Names.resolve(checkpoint.tensors).family)
        XCTAssertTrue(Keras3Names.isUnrecognised(format: checkpoint.format, names: checkpoint.tensors.map(\.name)))
        XCTAssertFalse(Keras3Names.isUnrecognised(format: .keras3WeightsH5, names: try open("keras3/plain.weights.h5").tensors.map(\.name)))
        let result = try CommandRunner.run(["inspect", Fixtures.path("keras3/unknown.weights.h5")])
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.stdout.components(separatedBy: "not recognised").count, 2, result.stdout)
    }

    /// A LayerNorm-only patch made from KerasHub files applies to the KerasHub base in place: the
    /// result holds the fine-tune's bytes in the LayerNorm datasets and the base's elsewhere.
    func testPatchAppliesToKerasHubBase() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = Fixtures.path("keras3/bert-cls.weights.h5")
        let finetuned = Fixtures.path("keras3/bert-cls-ln.weights.h5")
        let patch = directory.appendingPathComponent("ln.patch").path
        let output = directory.appendingPathComponent("out.weights.h5").path
        _ = try PatchTestSupport.makePatch(base: base, finetuned: finetuned, select: ["layernorm"], to: patch)
        try PatchTestSupport.apply(base: base, patch: patch, to: output)
        let written = try HDF5File(path: output), reference = try HDF5File(path: finetuned)
        XCTAssertEqual(written.tensors.map(\.name), reference.tensors.map(\.name))
        for tensor in written.tensors {
            let bytes = try written.withBytes(of: tensor) { Data($0) }
            XCTAssertEqual(bytes, try reference.withBytes(of: tensor) { Data($0) }, tensor.name)
        }
    }
}

extension XCTestCase {
    /// Compared parameters, changed elements and tensors, squared deltas and the regime: numpy's.
    func assertNumbers(_ diff: CheckpointDiff, _ expectation: [String: Any], _ label: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let parameters = diff.tensors.filter(\.isParameter)
        XCTAssertTrue(parameters.allSatisfy { $0.problem == nil }, "\(label): \(parameters.compactMap(\.problem))", file: file, line: line)
        XCTAssertEqual(parameters.count, expectation["tensors"] as? Int, "\(label) tensors", file: file, line: line)
        XCTAssertEqual(parameters.reduce(0) { $0 + $1.numel }, expectation["parameters"] as? Int, "\(label) parameters", file: file, line: line)
        XCTAssertEqual(parameters.reduce(0) { $0 + ($1.changed ?? 0) }, expectation["changed"] as? Int, "\(label) changed", file: file, line: line)
        XCTAssertEqual(parameters.filter { ($0.changed ?? 0) > 0 }.count, expectation["changed_tensors"] as? Int, "\(label) changed tensors", file: file, line: line)
        let deltaSquares = parameters.reduce(0.0) { $0 + ($1.sums?.deltaSquares ?? 0) }
        let reference = try XCTUnwrap(expectation["delta_sq"] as? Double)
        XCTAssertEqual(deltaSquares, reference, accuracy: 1e-6 * reference, "\(label) squared deltas", file: file, line: line)
        XCTAssertEqual(FineTuningRegime(diff).identifier, expectation["regime"] as? String, "\(label) regime", file: file, line: line)
    }
}
