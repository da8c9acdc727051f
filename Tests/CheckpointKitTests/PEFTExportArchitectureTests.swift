import Foundation
import XCTest
@testable import CheckpointKit

/// `ckpt patch --format peft` on LayerNorm-only and bias-only (BitFit) fine-tunes of tiny BERT,
/// RoBERTa and DistilBERT models (fixtures/make_peft_fixtures.py): ckpt's adapter against the
/// LN_TUNING and BEFT adapters peft 0.21.2 itself saved for the same fine-tunes (BEFT deltas as
/// torch's `ft.bias - base.bias`): every tensor must match peft's bytes, and the report's accuracy
/// must be how far base + delta (F32, as peft's merge) lands from the fine-tune's bias.
final class PEFTExportArchitectureTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testBertLayerNormAndBias() throws { try check("bert") }
    func testRobertaLayerNormAndBias() throws { try check("roberta") }
    func testDistilBertLayerNormAndBias() throws { try check("distilbert") }

    func check(_ arch: String) throws {
        let folder = Fixtures.root.appendingPathComponent("peft/\(arch)")
        let expected = try XCTUnwrap(Fixtures.json("peft/\(arch)/expected.json") as? [String: Any])
        for which in ["layernorm", "bias"] {
            let out = directory.appendingPathComponent("\(arch)-\(which)").path
            let result = try CommandRunner.run(["patch", "base", "ft-\(which)", "--format", "peft", "-o", out, "--json"], workingDirectory: folder)
            XCTAssertEqual(result.status, 0, "\(arch) \(which): \(result.stderr)")
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
            let entry = try XCTUnwrap(expected[which] as? [String: Any])
            try compare(out, with: folder.appendingPathComponent("expected-\(which)").path, entry: entry,
                        folder: folder, report: report, label: "\(arch) \(which)")
        }
    }

    /// Keys, dtypes, shapes, bytes and config fields as peft's.
    func compare(_ out: String, with peftDirectory: String, entry: [String: Any], folder: URL, report: [String: Any], label: String) throws {
        let ours = try SafetensorsFile(path: out + "/adapter_model.safetensors")
        let peft = try SafetensorsFile(path: peftDirectory + "/adapter_model.safetensors")
        let keys = try XCTUnwrap(entry["keys"] as? [[String: Any]])
        XCTAssertEqual(ours.tensors.map(\.name), keys.map { $0["name"] as! String }, label)
        XCTAssertEqual(ours.tensors.map(\.dtype.rawValue), keys.map { $0["dtype"] as! String }, label)
        XCTAssertEqual(ours.tensors.map(\.shape), keys.map { $0["shape"] as! [Int] }, label)
        var worstULP = 0, worstAbsolute = 0.0
        for info in ours.tensors {
            let theirs = try XCTUnwrap(peft.tensors.first { $0.name == info.name }, info.name)
            XCTAssertEqual(try ours.withBytes(of: info) { Data($0) }, try peft.withBytes(of: theirs) { Data($0) }, "\(label) \(info.name)")
            if info.name.hasSuffix(".beft_bias") {
                let (ulp, absolute) = try mergeError(theirs, in: peft, folder: folder, label: label)
                worstULP = max(worstULP, ulp)
                worstAbsolute = max(worstAbsolute, absolute)
            }
        }
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/adapter_config.json"))) as? [String: Any])
        let fields = try XCTUnwrap(entry["config"] as? [String: Any])
        for key in ["peft_type", "task_type", "base_model_name_or_path"] {
            XCTAssertEqual(config[key] as? String, fields[key] as? String, "\(label) \(key)")
        }
        XCTAssertEqual(config["inference_mode"] as? Bool, true, label)
        XCTAssertEqual((config["target_modules"] as? [String])?.sorted(), fields["target_modules"] as? [String], label)
        // peft adds its SEQ_CLS defaults ("classifier", "score"); ckpt lists the model's own modules.
        let saved = Set(config["modules_to_save"] as? [String] ?? [])
        XCTAssertEqual(saved, Set(fields["modules_to_save"] as? [String] ?? []).subtracting(["score"]), label)
        if fields["peft_type"] as? String == "BEFT" {
            XCTAssertEqual(report["bias_delta_max_ulp"] as? Int, worstULP, label)
            XCTAssertEqual(try XCTUnwrap(report["bias_delta_max_abs_error"] as? Double, label), worstAbsolute, accuracy: worstAbsolute * 1e-12, label)
            XCTAssertEqual(worstULP, try XCTUnwrap(entry["plain_delta_max_ulp"] as? Int, label), label)
            XCTAssertGreaterThan(worstULP, 0, "\(label): the fixture has biases trained to near 0, which no F32 delta reaches exactly")
        } else {
            XCTAssertNil(report["bias_delta_max_ulp"], label)
        }
    }

    /// How far base + peft's delta (F32) lands from the fine-tune's bias: the worst distance in ULP
    /// of the fine-tune's value and absolute.
    func mergeError(_ delta: TensorInfo, in peft: SafetensorsFile, folder: URL, label: String) throws -> (Int, Double) {
        let module = String(delta.name.dropFirst("base_model.model.".count).dropLast(".beft_bias".count))
        let finetuned = try SafetensorsFile(path: folder.appendingPathComponent("ft-bias/model.safetensors").path)
        let base = try SafetensorsFile(path: folder.appendingPathComponent("base/model.safetensors").path)
        let baseName = module.split(separator: ".").dropFirst().joined(separator: ".") + ".bias"
        let f = try TensorDecoder.floats(of: try XCTUnwrap(finetuned.tensors.first { $0.name == module + ".bias" }), in: finetuned)
        let b = try TensorDecoder.floats(of: try XCTUnwrap(base.tensors.first { $0.name == baseName }, baseName), in: base)
        let d = try TensorDecoder.floats(of: delta, in: peft)
        var worst = 0, absolute = 0.0
        for i in f.indices {
            worst = max(worst, ulps(b[i] + d[i], f[i]))
            absolute = max(absolute, abs(Double(b[i] + d[i]) - Double(f[i])))
        }
        return (worst, absolute)
    }

    /// F32 values between two floats (both zeros one value).
    func ulps(_ a: Float, _ b: Float) -> Int {
        func position(_ x: Float) -> Int { x < 0 ? -Int(x.bitPattern & 0x7fff_ffff) : Int(x.bitPattern & 0x7fff_ffff) }
        return abs(position(a) - position(b))
    }

    /// A weight matrix changed besides LayerNorms and a bias: refused in one line naming the tensor
    /// and the nearest selection that works, nothing written; that selection then exports as BEFT.
    func testMatrixChangeIsRefusedWithTheSelectThatWorks() throws {
        let folder = Fixtures.root.appendingPathComponent("peft")
        let out = directory.appendingPathComponent("adapter").path
        let refused = try CommandRunner.run(["patch", "base", "matrix-changed", "--format", "peft", "-o", out], workingDirectory: folder)
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("bert.encoder.layer.0.attention.self.query.weight"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--select layernorm,bias,head"), refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [])

        let result = try CommandRunner.run(["patch", "base", "matrix-changed", "--format", "peft", "-o", out,
                                            "--select", "layernorm,bias,head", "--json"], workingDirectory: folder)
        XCTAssertEqual(result.status, 0, result.stderr)
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/adapter_config.json"))) as? [String: Any])
        XCTAssertEqual(config["peft_type"] as? String, "BEFT")
        XCTAssertEqual(config["target_modules"] as? [String], ["bert.encoder.layer.0.attention.self.query"])
    }
}

extension PEFTExportArchitectureTests {
    /// A fine-tune saved from a DistributedDataParallel wrapper (`module.` names): PEFT wraps the
    /// plain model, so the adapter is the unwrapped one's, byte for byte peft's own.
    func testWrappedFineTuneGivesThePlainAdapter() throws {
        let folder = Fixtures.root.appendingPathComponent("peft/bert")
        let out = directory.appendingPathComponent("adapter").path
        let result = try CommandRunner.run(["patch", "base", "ft-bias-wrapped", "--format", "peft", "-o", out], workingDirectory: folder)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/adapter_model.safetensors")),
                       try Data(contentsOf: folder.appendingPathComponent("expected-bias/adapter_model.safetensors")))
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/adapter_config.json"))) as? [String: Any])
        XCTAssertEqual((config["modules_to_save"] as? [String])?.last, "classifier")
        XCTAssertFalse((config["target_modules"] as? [String] ?? []).contains { $0.hasPrefix("module.") })
    }
}
