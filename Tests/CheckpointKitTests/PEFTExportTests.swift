import Foundation
import XCTest
@testable import CheckpointKit

/// `ckpt patch --format peft` (issue 15, export half, LayerNorm part): a tiny BERT base (no head,
/// as all-MiniLM-L6-v2) and a LayerNorm-only classifier fine-tune, exported by ckpt, against the
/// LN_TUNING adapter peft itself saved for the same fine-tune (fixtures/make_peft_fixtures.py,
/// peft 0.21.2): same keys, dtypes, shapes and bytes, same config fields.
final class PEFTExportTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    var peftFixtures: URL { Fixtures.root.appendingPathComponent("peft") }

    /// Runs `ckpt patch base FINETUNED --format peft -o OUT` in fixtures/peft (so that the base path,
    /// and so base_model_name_or_path, is "base" as in peft's adapter).
    func export(_ finetuned: String, to out: String, extra: [String] = []) throws -> CommandResult {
        try CommandRunner.run(["patch", "base", finetuned, "--format", "peft", "-o", out] + extra, workingDirectory: peftFixtures)
    }

    func testLayerNormFineTuneGivesPeftsOwnAdapter() throws {
        let out = directory.appendingPathComponent("adapter").path
        let result = try export("finetuned", to: out, extra: ["--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        try assertMatchesPeft(out)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        XCTAssertEqual((report["config"] as? [String: Any])?["peft_type"] as? String, "LN_TUNING")
        XCTAssertEqual(report["tensors"] as? Int, 12)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/ckpt.json"))) as? [String: Any])
        XCTAssertEqual(record["format"] as? String, "ckpt-peft-export")
        XCTAssertEqual((record["metadata"] as? [String: String])?.isEmpty, false)
    }

    /// ckpt's adapter equals peft's: keys, dtypes, shapes (expected.json) and the file's bytes.
    func assertMatchesPeft(_ out: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try XCTUnwrap(Fixtures.json("peft/expected.json") as? [String: Any])
        let ours = try SafetensorsFile(path: out + "/adapter_model.safetensors")
        let keys = try XCTUnwrap(expected["keys"] as? [[String: Any]])
        XCTAssertEqual(ours.tensors.map(\.name), keys.map { $0["name"] as! String }, file: file, line: line)
        XCTAssertEqual(ours.tensors.map(\.dtype.rawValue), keys.map { $0["dtype"] as! String }, file: file, line: line)
        XCTAssertEqual(ours.tensors.map(\.shape), keys.map { $0["shape"] as! [Int] }, file: file, line: line)
        let peftBytes = try Data(contentsOf: peftFixtures.appendingPathComponent("expected/adapter_model.safetensors"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/adapter_model.safetensors")), peftBytes, file: file, line: line)

        let fields = try XCTUnwrap(expected["config"] as? [String: Any])
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/adapter_config.json"))) as? [String: Any])
        for key in ["peft_type", "task_type", "base_model_name_or_path"] {
            XCTAssertEqual(config[key] as? String, fields[key] as? String, key, file: file, line: line)
        }
        XCTAssertEqual(config["target_modules"] as? [String], fields["target_modules"] as? [String], file: file, line: line)
        XCTAssertEqual(config["inference_mode"] as? Bool, fields["inference_mode"] as? Bool, file: file, line: line)
        // peft adds its SEQ_CLS defaults ("classifier", "score"); ckpt lists the model's own head.
        let saved = try XCTUnwrap(config["modules_to_save"] as? [String], file: file, line: line)
        XCTAssertEqual(saved, ["classifier"], file: file, line: line)
        XCTAssertTrue(Set(saved).isSubset(of: Set(fields["modules_to_save"] as? [String] ?? [])), file: file, line: line)
    }

    /// A changed attention bias (besides the LayerNorms) makes it a BEFT adapter: the bias as a
    /// delta, the LayerNorms whole in modules_to_save (the other architectures' tests check values).
    func testBiasChangeBecomesBEFT() throws {
        let out = directory.appendingPathComponent("adapter").path
        let result = try export("bias-changed", to: out)
        XCTAssertEqual(result.status, 0, result.stderr)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/adapter_config.json"))) as? [String: Any])
        XCTAssertEqual(config["peft_type"] as? String, "BEFT")
        XCTAssertEqual(config["target_modules"] as? [String], ["bert.encoder.layer.0.attention.self.query"])
        let ours = try SafetensorsFile(path: out + "/adapter_model.safetensors")
        XCTAssertTrue(ours.tensors.contains { $0.name == "base_model.model.bert.encoder.layer.0.attention.self.query.beft_bias" })
        XCTAssertTrue(ours.tensors.contains { $0.name == "base_model.model.bert.embeddings.LayerNorm.weight" })
    }

    func testSelectLayerNormAndHeadDropsTheBiasAndSaysSo() throws {
        let out = directory.appendingPathComponent("adapter").path
        let result = try export("bias-changed", to: out, extra: ["--select", "layernorm,head"])
        XCTAssertEqual(result.status, 0, result.stderr)
        try assertMatchesPeft(out)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/ckpt.json"))) as? [String: Any])
        let total = try XCTUnwrap((record["shares"] as? [String: Any])?["total"] as? [String: Any])
        XCTAssertGreaterThan(total["dropped_sum_sq_delta"] as? Double ?? 0, 0, "\(total)")
    }

    func testNonEmptyDirectoryIsRefusedAndEmptyOneIsFilled() throws {
        let full = directory.appendingPathComponent("full")
        try FileManager.default.createDirectory(at: full, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: full.appendingPathComponent("keep.txt"))
        let refused = try export("finetuned", to: full.path)
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("not empty"), refused.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: full.path), ["keep.txt"])

        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let result = try export("finetuned", to: empty.path)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: empty.path).sorted(),
                       ["adapter_config.json", "adapter_model.safetensors", "ckpt.json"])
    }
}
