import Foundation
import XCTest
@testable import CheckpointKit

/// PEFT adapter directories read as fine-tunes (issue 15, import half): adapters saved by peft
/// 0.21.2 for tiny BERT, GPT-2 and Llama models (fixtures/make_peft_import_fixtures.py), merged by
/// ckpt, against what peft's own `PeftModel.from_pretrained(base, adapter).merge_and_unload()` gives
/// (F32 and BF16 bases), and diffed against numpy's numbers on the same merge.
final class PEFTImportTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }

    /// A safetensors file from a header and `data` bytes of 0x3F (each F32 0.74...).
    static func safetensors(_ header: String, data: Int, to path: URL) throws {
        let json = Array(header.utf8)
        try Data(withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json + [UInt8](repeating: 0x3F, count: data)).write(to: path)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func model(_ name: String) -> URL { Fixtures.root.appendingPathComponent("peft-import/" + name) }

    /// Every adapter and base dtype with peft's merged weights.
    static let merges: [(model: String, adapter: String)] = [
        ("bert", "lora"), ("bert", "ln"), ("bert", "beft"), ("gpt2", "lora"), ("llama", "lora"), ("llama", "rslora"),
    ]

    func testApplyGivesPeftsMergedWeights() throws {
        var worst = 0.0
        for (model, adapter) in Self.merges {
            for bf16 in [false, true] {
                worst = max(worst, try checkApply(model: model, adapter: adapter, bf16: bf16))
            }
        }
        print("PEFTImportTests: worst relative error against merge_and_unload(): \(worst)")
    }

    /// Applies `adapter` to the model's base and compares with peft's merge: the tensors peft
    /// changed or added to 1e-6 relative (returned: the worst), every other tensor byte for byte.
    func checkApply(model name: String, adapter: String, bf16: Bool) throws -> Double {
        let out = directory.appendingPathComponent("\(name)-\(adapter)-\(bf16).safetensors").path
        let base = bf16 ? "base-bf16" : "base"
        let result = try CommandRunner.run(["apply", base, adapter, "-o", out, "--json"], workingDirectory: model(name))
        XCTAssertEqual(result.status, 0, "\(name) \(adapter): \(result.stderr)")
        let merged = try SafetensorsFile(path: out)
        let baseFile = try SafetensorsFile(path: model(name).appendingPathComponent(base + "/model.safetensors").path)
        let expected = try SafetensorsFile(path: model(name).appendingPathComponent("expected/\(adapter)\(bf16 ? "-bf16" : "").safetensors").path)
        var worst = 0.0
        for tensor in merged.tensors {
            if let peft = expected.tensor(named: tensor.name) {
                XCTAssertEqual(tensor.dtype, peft.dtype, tensor.name)
                XCTAssertEqual(tensor.shape, peft.shape, tensor.name)
                let ours = try TensorDecoder.doubles(of: tensor, in: merged)
                let theirs = try TensorDecoder.doubles(of: peft, in: expected)
                let error = relativeError(ours, theirs)
                XCTAssertLessThanOrEqual(error, 1e-6, "\(name) \(adapter) \(base) \(tensor.name)")
                worst = max(worst, error)
            } else {
                let original = try XCTUnwrap(baseFile.tensor(named: tensor.name), "\(name) \(adapter): \(tensor.name) is neither peft's nor the base's")
                let same = try merged.withBytes(of: tensor) { a in try baseFile.withBytes(of: original) { b in a.elementsEqual(b) } }
                XCTAssertTrue(same, "\(name) \(adapter) \(base): \(tensor.name) changed, peft left it as it was")
            }
        }
        for peft in expected.tensors { XCTAssertNotNil(merged.tensor(named: peft.name), "\(name) \(adapter): \(peft.name) missing") }
        XCTAssertEqual(Array(merged.tensors.map(\.name).prefix(baseFile.tensors.count)), baseFile.tensors.map(\.name))
        return worst
    }

    /// ||ours - peft|| / ||peft|| (0 for two zero tensors).
    func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        var num = 0.0, den = 0.0
        for i in 0..<a.count { num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i] }
        return den == 0 ? num.squareRoot() : (num / den).squareRoot()
    }

    /// `ckpt diff BASE ADAPTER_DIR --json`: every tensor peft's merge changed has numpy's numbers.
    func testDiffNumbersMatchNumpy() throws {
        for (name, adapter) in Self.merges {
            let result = try CommandRunner.run(["diff", "base", adapter, "--json"], workingDirectory: model(name))
            XCTAssertEqual(result.status, 0, result.stderr)
            let document = try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
            XCTAssertEqual(document["finetuned_format"] as? String, "peft-adapter")
            let rows = try XCTUnwrap(document["tensors"] as? [[String: Any]])
            let record = try XCTUnwrap((Fixtures.json("peft-import/\(name)/expected.json") as? [String: Any])?[adapter] as? [String: Any])
            let numbers = try XCTUnwrap(record["numbers"] as? [String: [String: Any]])
            XCTAssertFalse(numbers.isEmpty)
            for (tensor, expected) in numbers {
                let row = try XCTUnwrap(rows.first { $0["base_name"] as? String == tensor || $0["name"] as? String == tensor }, "\(name) \(adapter): no row for \(tensor)")
                XCTAssertEqual(row["changed"] as? Int, expected["changed"] as? Int, "\(name) \(adapter) \(tensor)")
                for key in ["delta_l2", "relative_change", "max_abs_delta", "mean_abs_delta"] {
                    if let text = expected[key] as? String {  // "inf": a zero base tensor that changed
                        XCTAssertEqual(row[key] as? String, text, "\(name) \(adapter) \(tensor) \(key)")
                        continue
                    }
                    let ours = try XCTUnwrap(row[key] as? Double, key), theirs = try XCTUnwrap(expected[key] as? Double, key)
                    XCTAssertEqual(ours, theirs, accuracy: 1e-6 * max(abs(theirs), 1e-12), "\(name) \(adapter) \(tensor) \(key)")
                }
            }
            let changedRows = rows.filter { ($0["changed"] as? Int ?? 0) > 0 }.count
            XCTAssertEqual(changedRows, numbers.count, "\(name) \(adapter): ckpt sees other changed tensors than peft's merge")
        }
    }

    /// `ckpt inspect ADAPTER_DIR` lists the adapter's own tensors and its settings.
    func testInspectListsTheAdapter() throws {
        let result = try CommandRunner.run(["inspect", "lora", "--json"], workingDirectory: model("llama"))
        XCTAssertEqual(result.status, 0, result.stderr)
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        XCTAssertEqual(document["format"] as? String, "peft-adapter")
        let metadata = try XCTUnwrap(document["metadata"] as? [String: String])
        XCTAssertEqual(metadata["peft_type"], "LORA")
        XCTAssertEqual(metadata["r"], "4")
        XCTAssertEqual(metadata["lora_alpha"], "8")
        XCTAssertEqual(metadata["target_modules"], "down_proj,o_proj,q_proj,v_proj")
        XCTAssertEqual(metadata["rank_pattern"], "model.layers.0.self_attn.q_proj=2,v_proj=6")
        XCTAssertEqual(metadata["base_model_name_or_path"], "base")
        let text = try CommandRunner.run(["inspect", "lora"], workingDirectory: model("llama"))
        XCTAssertTrue(text.stdout.contains("peft-adapter"), text.stdout)
        XCTAssertTrue(text.stdout.contains("peft_type = LORA"), text.stdout)
    }

    /// DoRA, an unknown method, and an adapter for another model are refused in one line, nothing written.
    func testRefusals() throws {
        let out = directory.appendingPathComponent("out.safetensors").path
        let cases: [(model: String, base: String, adapter: String, status: Int32, words: [String])] = [
            ("bert", "base", "dora", 2, ["DoRA", "use_dora"]),
            ("bert", "base", "ia3", 2, ["IA3", "not supported"]),
            ("bert", "../llama/base", "lora", 3, ["encoder.layer.0.attention.self.query.weight", "does not have"]),
        ]
        for c in cases {
            for command in [["apply", c.base, c.adapter, "-o", out], ["diff", c.base, c.adapter]] {
                let result = try CommandRunner.run(command, workingDirectory: model(c.model))
                XCTAssertEqual(result.status, c.status, "\(command): \(result.stderr)")
                for word in c.words { XCTAssertTrue(result.stderr.contains(word), "\(command): \(result.stderr)") }
                XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
                XCTAssertFalse(FileManager.default.fileExists(atPath: out))
            }
        }
    }

    /// `ckpt patch BASE ADAPTER_DIR --select all` makes a ckpt patch that applies to peft's merge,
    /// and `ckpt verify` says it reproduces the adapter's model.
    func testPatchFromAnAdapterReproducesTheMerge() throws {
        let patch = directory.appendingPathComponent("task.patch").path
        let out = directory.appendingPathComponent("out.safetensors").path
        let made = try CommandRunner.run(["patch", "base-bf16", "lora", "--select", "all", "-o", patch], workingDirectory: model("gpt2"))
        XCTAssertEqual(made.status, 0, made.stderr)
        let verified = try CommandRunner.run(["verify", patch, "--base", "base-bf16", "--finetuned", "lora"], workingDirectory: model("gpt2"))
        XCTAssertEqual(verified.status, 0, verified.stdout + verified.stderr)
        let applied = try CommandRunner.run(["apply", "base-bf16", patch, "-o", out], workingDirectory: model("gpt2"))
        XCTAssertEqual(applied.status, 0, applied.stderr)
        let merged = try SafetensorsFile(path: out)
        let expected = try SafetensorsFile(path: model("gpt2").appendingPathComponent("expected/lora-bf16.safetensors").path)
        for peft in expected.tensors {
            let ours = try XCTUnwrap(merged.tensor(named: peft.name))
            XCTAssertLessThanOrEqual(relativeError(try TensorDecoder.doubles(of: ours, in: merged), try TensorDecoder.doubles(of: peft, in: expected)), 1e-6, peft.name)
        }
    }

    /// peft's `get_pattern_key`: a key matches the whole module name or a tail after a dot; `.`
    /// is any character; the first key in the config's order wins.
    func testPatternKeysMatchAsPeftDoes() throws {
        func m(_ key: String, _ module: String) throws -> Bool { try PEFTPatternKey.matches(key, module: module, path: "x") }
        XCTAssertTrue(try m("v_proj", "model.layers.0.self_attn.v_proj"))
        XCTAssertTrue(try m("self_attn.v_proj", "model.layers.0.self_attn.v_proj"))
        XCTAssertFalse(try m("_proj", "model.layers.0.self_attn.v_proj"))
        XCTAssertTrue(try m("layers.0.self_attn.q_proj", "model.layers.0.self_attn.q_proj"))
        XCTAssertFalse(try m("layers.0.self_attn.q_proj", "model.layers.10.self_attn.q_proj"))
        XCTAssertTrue(try m("layers.[01].self_attn.q_proj", "model.layers.1.self_attn.q_proj"))
        XCTAssertFalse(try m("layers.[01].self_attn.q_proj", "model.layers.2.self_attn.q_proj"))
        XCTAssertTrue(try m(".*q_proj", "model.layers.2.self_attn.q_proj"))
        // Keys whose backtracking match could run for days on a real module name are refused at once.
        for hostile in ["(.+.+)+Z", "(x+x+)+y", "a{1,100}", "(a)\\1", ".*.*.*Z"] {
            XCTAssertThrowsError(try m(hostile, "model.layers.0.self_attn.q_proj"), hostile)
        }
        let entries = [PEFTAdapterSettings.PatternEntry(key: "q_proj", value: 2), .init(key: "layers.0.self_attn.q_proj", value: 3)]
        XCTAssertEqual(try PEFTPatternKey.firstMatch(entries, module: "model.layers.0.self_attn.q_proj", path: "x")?.value, 2)
    }

    /// The config parser's refusals name the field.
    func testConfigParserRefusesWhatItCannotMerge() throws {
        func parse(_ text: String) throws -> PEFTAdapterSettings {
            try Array(text.utf8).withUnsafeBytes { try PEFTAdapterSettings(parsing: $0, path: "adapter_config.json") }
        }
        XCTAssertEqual(try parse(#"{"peft_type": "LORA", "r": 4, "lora_alpha": 16, "use_rslora": true}"#).scaling(rank: 4, alpha: 16), 8)
        let refusals = [
            #"{"peft_type": "LORA", "r": 4, "init_lora_weights": "pissa"}"#: "pissa",
            #"{"peft_type": "LORA", "r": 0}"#: "\"r\"",
            #"{"peft_type": "LORA", "r": 4, "rank_pattern": {"q": "x"}}"#: "rank_pattern",
            #"{"peft_type": "VERA"}"#: "VERA",
            #"{"r": 4}"#: "peft_type",
            #"[1]"#: "object",
            #"{"peft_type": "LORA", "r": 4, "layer_replication": [[0, 1]]}"#: "layer_replication",
        ]
        for (text, word) in refusals {
            XCTAssertThrowsError(try parse(text), text) { error in
                XCTAssertTrue("\(error)".contains(word), "\(text): \(error)")
            }
        }
    }
    /// The FuzzPEFTAdapter setting replayed: its regression inputs and hostile configs as the
    /// `adapter_config.json` of a one-LoRA adapter (A 2x4, B 4x2 on module `m`), opened, merged onto
    /// a base holding `m.weight` and read: a typed error or a clean read, never a trap.
    func testHostileConfigsGiveTypedErrors() throws {
        let adapter = directory.appendingPathComponent("adapter")
        try FileManager.default.createDirectory(at: adapter, withIntermediateDirectories: true)
        try Self.safetensors(#"{"base_model.model.m.lora_A.weight":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]},"base_model.model.m.lora_B.weight":{"dtype":"F32","shape":[4,2],"data_offsets":[32,64]}}"#,
                        data: 64, to: adapter.appendingPathComponent("adapter_model.safetensors"))
        let base = directory.appendingPathComponent("base.safetensors")
        try Self.safetensors(#"{"m.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]},"m.bias":{"dtype":"BF16","shape":[4],"data_offsets":[64,72]}}"#, data: 72, to: base)
        let seeds = Fixtures.root.deletingLastPathComponent().appendingPathComponent("Fuzz/regressions/FuzzPEFTAdapter")
        var inputs = try FileManager.default.contentsOfDirectory(at: seeds, includingPropertiesForKeys: nil).map { try Data(contentsOf: $0) }
        inputs += [#"{"peft_type":"LORA","r":2,"rank_pattern":{"(a+)+$":2}}"#, #"{"peft_type":"LORA","r":2,"alpha_pattern":{"m":1e308}}"#,
                   #"{"peft_type":"LORA","r":2,"lora_alpha":-3,"use_rslora":true}"#, #"{"peft_type":"LN_TUNING"}"#, #"{"peft_type":"BEFT"}"#,
                   #"{"peft_type":"LORA","r":9223372036854775807}"#, #"{"peft_type":"LORA","r":2,"target_modules":[1]}"#, "",
                   #"{"peft_type":"LORA","r":2,"rank_pattern":{"m":9223372036854775807}}"#].map { Data($0.utf8) }
        var merged = 0
        for input in inputs {
            try input.write(to: adapter.appendingPathComponent("adapter_config.json"))
            do {
                let opened = try CheckpointOpener.open(adapter.path)
                let model = try PEFTImport.merged(opened, onto: try CheckpointOpener.open(base.path))
                for tensor in model.tensors { _ = try TensorDecoder.doubles(of: tensor, in: model) }
                merged += 1
            } catch {
                XCTAssertTrue(error is CategorizedError, "\(String(decoding: input, as: UTF8.self)): \(error)")
            }
        }
        XCTAssertGreaterThanOrEqual(merged, 2)
    }

    /// peft sets fan_in_fan_out per module type (GPT-2 Conv1D true, nn.Linear false) and saves the
    /// value of the last module it wrapped, so a square `c_proj` with a saved `false` is ambiguous:
    /// refused rather than merged in one orientation by guess.
    func testSquareConv1DTargetWithContradictingFlagIsRefused() throws {
        let adapter = directory.appendingPathComponent("adapter")
        try FileManager.default.createDirectory(at: adapter, withIntermediateDirectories: true)
        try Self.safetensors(#"{"base_model.model.h.0.attn.c_proj.lora_A.weight":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]},"base_model.model.h.0.attn.c_proj.lora_B.weight":{"dtype":"F32","shape":[4,2],"data_offsets":[32,64]}}"#,
                        data: 64, to: adapter.appendingPathComponent("adapter_model.safetensors"))
        let base = directory.appendingPathComponent("base.safetensors")
        try Self.safetensors(#"{"h.0.attn.c_proj.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}"#, data: 64, to: base)
        for flag in [false, true] {
            try Data(#"{"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["c_proj"],"fan_in_fan_out":\#(flag)}"#.utf8)
                .write(to: adapter.appendingPathComponent("adapter_config.json"))
            let merge = { try PEFTImport.merged(try CheckpointOpener.open(adapter.path), onto: try CheckpointOpener.open(base.path)) }
            if flag {
                XCTAssertNoThrow(try merge())
            } else {
                XCTAssertThrowsError(try merge()) { XCTAssertTrue("\($0)".contains("cannot be told"), "\($0)") }
            }
        }
    }
}
