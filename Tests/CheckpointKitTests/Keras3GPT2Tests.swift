import XCTest
@testable import CheckpointKit

/// KerasHub GPT-2 against Hugging Face GPT-2 (issue 12): keras-hub's converter cuts the fused
/// `c_attn` (`Conv1D` weight (in, 3 x hidden), bias (3 x hidden)) into query, key and value; the
/// reader presents them as that one tensor again. Files and numpy numbers from
/// fixtures/make_keras3_fixtures.py (transformers GPT2Model, keras-hub 0.32.0's converter).
final class Keras3GPT2Tests: XCTestCase {
    func open(_ relative: String) throws -> any Checkpoint { try CheckpointOpener.open(Fixtures.path(relative)) }

    /// keras-hub's conversion against a fine-tune of every tensor of its source: every tensor pairs
    /// (c_attn included) with numpy's numbers of the Hugging Face base.
    func testConversionDiffsLikeTheHuggingFaceBase() throws {
        let root = try XCTUnwrap(Fixtures.json("keras3/expected.json") as? [String: Any])
        let expectation = try XCTUnwrap((root["gpt2"] as? [String: [String: Any]])?["hf/all"])
        let keras = try open("keras3/hf-gpt2-keras.weights.h5")
        XCTAssertEqual(keras.tensors.first { $0.name == "transformer/h/1/attn/c_attn/weight" }?.shape, [16, 48])
        XCTAssertEqual(keras.tensors.first { $0.name == "transformer/h/1/attn/c_attn/bias" }?.shape, [48])
        XCTAssertFalse(keras.tensors.contains { $0.name.contains("q_proj") })
        let diff = try CheckpointDiff(base: keras, finetuned: open("keras3/hf-gpt2-ft"))
        XCTAssertTrue(diff.onlyInBase.isEmpty && diff.onlyInFinetuned.isEmpty, "\(diff.onlyInBase.map(\.name)) \(diff.onlyInFinetuned.map(\.name))")
        try assertNumbers(diff, expectation, "keras vs hf")
        try assertNumbers(try CheckpointDiff(base: open("keras3/hf-gpt2"), finetuned: open("keras3/hf-gpt2-ft")), expectation, "hf vs hf")
        XCTAssertEqual(ParameterNames.role(of: "transformer/h/1/attn/c_attn/bias").kind, .bias)
    }

    /// A bias-only patch of the Hugging Face fine-tune (c_attn's bias selected as a bias) applied to
    /// the KerasHub base: the query/key/value bias datasets get their thirds, the kernels stay, and
    /// `verify` says the patch reproduces the fine-tune's biases.
    func testBiasPatchSplitsIntoTheKerasDatasets() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = Fixtures.path("keras3/hf-gpt2-keras.weights.h5"), finetuned = Fixtures.path("keras3/hf-gpt2-ft")
        let patch = directory.appendingPathComponent("bias.patch").path
        let output = directory.appendingPathComponent("out.weights.h5").path
        let plan = try PatchTestSupport.makePatch(base: base, finetuned: finetuned, select: ["bias"], to: patch)
        XCTAssertTrue(plan.tensors.contains { $0.record.name == "transformer/h/0/attn/c_attn/bias" }, "\(plan.tensors.map(\.record.name))")
        XCTAssertFalse(plan.tensors.contains { $0.record.name == "transformer/h/0/attn/c_attn/weight" })
        try PatchTestSupport.apply(base: base, patch: patch, to: output)
        let written = try HDF5File(path: output), reference = try RawSafetensors(path: finetuned)
        let keras = try HDF5File(path: base)
        for layer in 0..<2 {
            let bias = try XCTUnwrap(written.tensor(named: "transformer/h/\(layer)/attn/c_attn/bias"))
            XCTAssertEqual(try written.withBytes(of: bias) { Data($0) }, reference.tensors["h.\(layer).attn.c_attn.bias"]?.bytes)
            let kernel = try XCTUnwrap(written.tensor(named: "transformer/h/\(layer)/attn/c_attn/weight"))
            XCTAssertEqual(try written.withBytes(of: kernel) { Data($0) }, try keras.withBytes(of: kernel) { Data($0) })
        }
        let result = try CommandRunner.run(["verify", patch, "--base", base])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
    }
}
