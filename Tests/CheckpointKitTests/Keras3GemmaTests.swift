import XCTest
@testable import CheckpointKit

/// KerasHub Gemma against Hugging Face Gemma (issue 12): keras-hub's converter stores query, key
/// and value kernels (heads, hidden, head_dim), a per-head transpose of PyTorch's weight, which the
/// alignment reads with its axes permuted. Files and numpy numbers from
/// fixtures/make_keras3_fixtures.py (transformers GemmaForCausalLM, keras-hub 0.32.0's converter).
final class Keras3GemmaTests: XCTestCase {
    func gemma() throws -> [String: [String: Any]] {
        let root = try XCTUnwrap(Fixtures.json("keras3/expected.json") as? [String: Any])
        return try XCTUnwrap(root["gemma"] as? [String: [String: Any]])
    }

    func open(_ relative: String) throws -> any Checkpoint { try CheckpointOpener.open(Fixtures.path(relative)) }

    func diff(_ base: String, _ finetuned: String) throws -> CheckpointDiff {
        try CheckpointDiff(base: open(base), finetuned: open(finetuned))
    }

    /// numpy's `arange(24).reshape(2, 3, 4).transpose(0, 2, 1).ravel()`, and back.
    func testPermutationMatchesNumpy() {
        let source = (0..<24).map(UInt32.init)
        var out = [UInt32](repeating: 0, count: 24)
        source.withUnsafeBytes { s in
            out.withUnsafeMutableBytes { ElementPermutation.permute(s, shape: [2, 3, 4], axes: [0, 2, 1], width: 4, into: $0) }
        }
        XCTAssertEqual(out, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, 12, 16, 20, 13, 17, 21, 14, 18, 22, 15, 19, 23])
        var back = [UInt32](repeating: 0, count: 24)
        out.withUnsafeBytes { s in
            back.withUnsafeMutableBytes { ElementLayout.permuted(shape: [2, 3, 4], axes: [0, 2, 1]).fromPyTorch(s, width: 4, into: $0) }
        }
        XCTAssertEqual(back, source)
    }

    /// keras-hub's conversion against its source: all 20 tensors pair and are equal, query, key
    /// and value (2 layers) through the per-head permutation; none is read as a 2-D transpose.
    func testConversionPairsEveryTensorWithItsSource() throws {
        let keras = try open("keras3/hf-gemma-keras.weights.h5"), hf = try open("keras3/hf-gemma/base")
        let alignment = CheckpointAlignment(base: keras, finetuned: hf)
        XCTAssertEqual(alignment.pairs.count, 20)
        XCTAssertTrue(alignment.onlyInBase.isEmpty && alignment.onlyInFinetuned.isEmpty)
        let permuted = alignment.pairs.filter { if case .permuted = $0.baseLayout { return true } else { return false } }
        XCTAssertEqual(Set(permuted.map(\.finetuned.name)), Set((0..<2).flatMap { i in ["q", "k", "v"].map { "model.layers.\(i).self_attn.\($0)_proj.weight" } }))
        XCTAssertEqual(permuted.first { $0.finetuned.name == "model.layers.0.self_attn.q_proj.weight" }?.baseLayout,
                       .permuted(shape: [2, 8, 4], axes: [0, 2, 1]))
        let same = try diff("keras3/hf-gemma-keras.weights.h5", "keras3/hf-gemma/base")
        XCTAssertEqual(same.tensors.filter(\.isParameter).count, 20)
        XCTAssertTrue(same.tensors.allSatisfy { $0.problem == nil && $0.changed == 0 }, "\(same.tensors.filter { $0.changed != 0 }.map(\.name))")
        // Roles: a query kernel of layer 1; Gemma 1's pre-FFN norm is Hugging Face's post_attention_layernorm.
        let names = Set(keras.tensors.map(\.name))
        XCTAssertTrue(names.contains("model/layers/1/self_attn/q_proj/per_head_kernel"))
        XCTAssertTrue(names.contains("model/layers/1/post_attention_layernorm/weight"))
        let query = ParameterNames.role(of: "model/layers/1/self_attn/q_proj/per_head_kernel")
        XCTAssertEqual(query.component, .query)
        XCTAssertEqual(query.layer, 1)
        XCTAssertEqual(query.canonicalName, "layers.1.self_attn.q_proj.weight")
    }

    /// The conversion against the Hugging Face RMSNorm-only and all-tensor fine-tunes: numpy's
    /// numbers of the Hugging Face base (1e-6 relative), also with the fine-tune's names under a
    /// `module.` wrapper; and the Keras fine-tune against the Keras base and the Hugging Face base.
    func testDiffsGiveTheHuggingFaceBaseNumbers() throws {
        let expected = try gemma()
        for regime in ["ln", "all"] {
            let expectation = try XCTUnwrap(expected["hf/\(regime)"])
            try assertNumbers(try diff("keras3/hf-gemma-keras.weights.h5", "keras3/hf-gemma/ft-\(regime)"), expectation, "keras vs hf \(regime)")
            try assertNumbers(try diff("keras3/hf-gemma/base", "keras3/hf-gemma/ft-\(regime)"), expectation, "hf vs hf \(regime)")
        }
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let wrapped = directory.appendingPathComponent("wrapped.safetensors").path
        let source = try RawSafetensors(path: Fixtures.path("keras3/hf-gemma/ft-all"))
        try PatchTestSupport.write(source.order.map { ("module." + $0, source.tensors[$0]!) }, to: wrapped)
        try assertNumbers(try CheckpointDiff(base: open("keras3/hf-gemma-keras.weights.h5"), finetuned: CheckpointOpener.open(wrapped)),
                                  try XCTUnwrap(expected["hf/all"]), "keras vs module.-wrapped hf")
        let keras = try XCTUnwrap(expected["keras/ln"])
        try assertNumbers(try diff("keras3/hf-gemma-keras.weights.h5", "keras3/gemma-ln.weights.h5"), keras, "keras vs keras ln")
        try assertNumbers(try diff("keras3/hf-gemma/base", "keras3/gemma-ln.weights.h5"), keras, "hf vs keras ln")
    }

    /// A patch of the all-tensor Hugging Face fine-tune applied to the KerasHub base writes each
    /// query kernel as keras-hub's converter would (`K[h, i, j] = W[h * head_dim + j, i]`, read here
    /// by index, not by ckpt's permutation), and `verify` of the patch on the base against the fine-tune passes.
    func testHuggingFacePatchAppliesPermutedToKerasBase() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = Fixtures.path("keras3/hf-gemma-keras.weights.h5"), finetuned = Fixtures.path("keras3/hf-gemma/ft-all")
        let patch = directory.appendingPathComponent("all.patch").path
        let output = directory.appendingPathComponent("out.weights.h5").path
        try PatchTestSupport.makePatch(base: base, finetuned: finetuned, select: ["all"], to: patch)
        try PatchTestSupport.apply(base: base, patch: patch, to: output)
        let written = try HDF5File(path: output)
        let reference = try RawSafetensors(path: finetuned)
        for layer in 0..<2 {
            let name = "model/layers/\(layer)/self_attn/q_proj/per_head_kernel"
            let tensor = try XCTUnwrap(written.tensor(named: name))
            XCTAssertEqual(tensor.shape, [2, 8, 4])
            let kernel: [Float] = try written.withBytes(of: tensor) { raw in (0..<64).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
            let weight = reference.floats("model.layers.\(layer).self_attn.q_proj.weight")
            for h in 0..<2 { for i in 0..<8 { for j in 0..<4 {
                XCTAssertEqual(kernel[(h * 8 + i) * 4 + j].bitPattern, weight[(h * 4 + j) * 8 + i].bitPattern, "\(name)[\(h), \(i), \(j)]")
            } } }
        }
        let after = try CheckpointDiff(base: HDF5File(path: output), finetuned: open("keras3/hf-gemma/ft-all"))
        XCTAssertTrue(after.tensors.allSatisfy { $0.changed == 0 }, "\(after.tensors.filter { $0.changed != 0 }.map(\.name))")
        let result = try CommandRunner.run(["verify", patch, "--base", base, "--finetuned", finetuned])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
    }

    /// A mask given by the Hugging Face name of a per-head kernel is refused in one line rather than
    /// read in PyTorch's order against the Keras layout.
    func testMaskUnderThePermutedNameIsRefused() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let mask = directory.appendingPathComponent("mask.safetensors").path
        try PatchTestSupport.write([("model.layers.0.self_attn.q_proj.weight", RawSafetensors.Tensor(dtype: "U8", shape: [8, 8], bytes: Data(repeating: 1, count: 64)))], to: mask)
        let alignment = CheckpointAlignment(base: try open("keras3/hf-gemma-keras.weights.h5"), finetuned: try open("keras3/hf-gemma/ft-all"))
        XCTAssertThrowsError(try SelectionEvaluator(selection: PatchSelection(specs: ["mask:" + mask]), alignment: alignment,
                                                    base: try open("keras3/hf-gemma-keras.weights.h5").tensors)) { error in
            XCTAssertTrue("\(error)".contains("permuted"), "\(error)")
        }
    }
}
