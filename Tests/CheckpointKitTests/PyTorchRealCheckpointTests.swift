import Foundation
import XCTest
@testable import CheckpointKit

/// The PyTorch reader on the real all-MiniLM-L6-v2 data: `data/minilm/bin/{base,ft-layernorm}/
/// pytorch_model.bin` are `torch.save` copies of the safetensors base and LayerNorm fine-tune, written
/// by `scripts/dev.sh data` with numpy only (fixtures/minilm/build_torch_copies.py, whose
/// `--torch-check` proved with PyTorch that `torch.load(weights_only=True)` gives the safetensors
/// tensors bit for bit). So ckpt must say the same about the `.bin` pair as about the safetensors
/// pair: the same diff numbers and regime, the same inspected tensors, the same patch and applied
/// model bytes. Missing data fails under `CKPT_TEST_STRICT=1` (CI) and skips otherwise.
final class PyTorchRealCheckpointTests: XCTestCase {
    /// Report fields that name the files rather than their tensors.
    static let fileFields: Set<String> = ["base", "finetuned", "base_format", "finetuned_format", "seconds", "path", "format", "file_size"]

    func pair(_ bin: Bool) throws -> (String, String) {
        let prefix = bin ? "bin/" : ""
        return (try DiffRealCheckpointTests.present("\(prefix)base"), try DiffRealCheckpointTests.present("\(prefix)ft-layernorm"))
    }

    func json(_ arguments: [String]) throws -> [String: Any] {
        let result = try CommandRunner.run(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        return object.filter { !Self.fileFields.contains($0.key) }
    }

    func testDiffOfTheBinPairEqualsTheSafetensorsPair() throws {
        let (binBase, binFT) = try pair(true), (stBase, stFT) = try pair(false)
        let bin = try json(["diff", binBase, binFT, "--json"])
        let safetensors = try json(["diff", stBase, stFT, "--json"])
        let numpy = try XCTUnwrap(Fixtures.json("minilm/expected-diff-layernorm.json") as? [String: Any])
        XCTAssertEqual((bin["tensors"] as? [Any])?.count, (numpy["tensors"] as? [Any])?.count)
        XCTAssertEqual((bin["regime"] as? [String: Any])?["identifier"] as? String, "layernorm")
        XCTAssertEqual(Set(bin.keys), Set(safetensors.keys))
        for key in bin.keys {
            XCTAssertEqual(bin[key] as? NSObject, safetensors[key] as? NSObject, key)
        }
    }

    /// The `.bin` pair's numbers against numpy's float64 expectations directly, not only against
    /// what ckpt says of the safetensors pair.
    func testBinPairNumbersMatchNumpy() throws {
        let (binBase, binFT) = try pair(true)
        let expected = try DiffRealCheckpointTests.present("expected-diff-layernorm.json")
        let data = try Data(contentsOf: URL(fileURLWithPath: expected))
        let expectation = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let diff = try CheckpointDiff(base: try CheckpointOpener.open(binBase), finetuned: try CheckpointOpener.open(binFT))
        try assertTensorsMatch(diff, expectation)
        XCTAssertEqual(FineTuningRegime(diff).identifier, expectation["regime"] as? String)
    }

    func testInspectGivesTheSameTensors() throws {
        let (binBase, _) = try pair(true), (stBase, _) = try pair(false)
        let bin = try json(["inspect", binBase, "--json"])
        let safetensors = try json(["inspect", stBase, "--json"])
        XCTAssertEqual(bin["tensor_count"] as? Int, 104)
        XCTAssertEqual(Set(bin.keys), Set(safetensors.keys))
        for key in bin.keys {
            XCTAssertEqual(bin[key] as? NSObject, safetensors[key] as? NSObject, key)
        }
    }

    func testPatchAndApplyFromTheBinPairWriteTheSameBytes() throws {
        let (binBase, binFT) = try pair(true), (stBase, stFT) = try pair(false)
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var outputs: [(patch: Data, model: Data)] = []
        for (name, base, finetuned) in [("bin", binBase, binFT), ("st", stBase, stFT)] {
            let patch = directory.appendingPathComponent("\(name).patch").path
            let model = directory.appendingPathComponent("\(name).safetensors").path
            let made = try CommandRunner.run(["patch", base, finetuned, "-o", patch])
            XCTAssertEqual(made.status, 0, made.stderr)
            let applied = try CommandRunner.run(["apply", base, patch, "-o", model])
            XCTAssertEqual(applied.status, 0, applied.stderr)
            outputs.append((try Data(contentsOf: URL(fileURLWithPath: patch)), try Data(contentsOf: URL(fileURLWithPath: model))))
        }
        XCTAssertFalse(outputs[0].patch.isEmpty)
        XCTAssertEqual(outputs[0].patch, outputs[1].patch, "patch bytes")
        XCTAssertEqual(outputs[0].model, outputs[1].model, "applied model bytes")
    }
}
