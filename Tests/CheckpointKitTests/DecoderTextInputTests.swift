import Foundation
import XCTest
@testable import CheckpointKit

/// A decoder's text input: GPT-2-, Llama 3- and Qwen2-style byte-level BPE tokenizers against the
/// `tokenizers` library on 2,343 texts (non-ASCII, emoji, newlines, digit runs, special tokens), and
/// `text` / `prompt` + `completion` lines against the ids and labels TRL's layout gives
/// (fixtures/make_decoder_tokenizer_fixtures.py).
final class DecoderTextInputTests: XCTestCase {
    static func path(_ name: String) -> String { Fixtures.path("decoder-tokenizers/\(name)") }

    /// The 32-bit FNV-1a hash of the ids written as "1,2,3", as the fixture script hashes them.
    static func fnv(_ ids: [Int32]) -> String {
        var h: UInt32 = 0x811C_9DC5
        for b in ids.map(String.init).joined(separator: ",").utf8 { h = (h ^ UInt32(b)) &* 0x0100_0193 }
        return String(format: "%08x", h)
    }

    static func json(_ path: String) throws -> JSONValue {
        try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    func check(_ name: String) throws {
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: Self.path("\(name)/tokenizer.json"))
        let expected = try Self.json(Self.path("expected-tokens.json"))
        let extra = (expected["extra_texts"]?.arrayValue ?? []).compactMap(\.stringValue)
        let texts = (try Self.json(Fixtures.path("fisher/expected-tokens.json"))["tiny"]?["single"]?.arrayValue ?? [])
            .compactMap { $0["text"]?.stringValue } + extra
        let hashes = Array(expected[name]?["fnv"]?.stringValue ?? "")
        XCTAssertEqual(hashes.count, 8 * texts.count)
        XCTAssertGreaterThan(texts.count, 2000)
        let full = (expected[name]?["ids"]?.arrayValue ?? []).map(FisherTokenizerEncodersTests.ids)
        let fullTexts = Array(texts.suffix(extra.count)) + texts.prefix(full.count - extra.count)
        for (text, ids) in zip(fullTexts, full) {
            XCTAssertEqual(tokenizer.encode(text, pair: nil, maxLength: .max).inputIds, ids, "\(name) \(text.debugDescription)")
        }
        var wrong = 0
        for (i, text) in texts.enumerated() {
            let got = tokenizer.encode(text, pair: nil, maxLength: .max).inputIds
            if Self.fnv(got) != String(hashes[(8 * i)..<(8 * i + 8)]) {
                wrong += 1
                if wrong <= 5 { XCTFail("\(name) \(text.debugDescription): \(got) hashes differently from tokenizers' ids") }
            }
        }
        print("\(name): \(texts.count - wrong) of \(texts.count) texts identical to tokenizers")
    }

    func testGPT2StyleMatchesTokenizers() throws { try check("gpt2") }
    func testLlama3StyleMatchesTokenizers() throws { try check("llama3") }
    func testQwen2StyleMatchesTokenizers() throws { try check("qwen2") }

    /// `text` and `prompt` + `completion` lines give the ids and -100 labels that the fixture script
    /// built with `tokenizers` the way TRL does.
    func testTextLinesGiveTRLsIdsAndLabels() throws {
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: Self.path("tiny/tokenizer.json"))
        let fromText = try DecoderDataset.load(path: Self.path("data-text.jsonl"), tokenizer: { tokenizer })
        let fromIds = try DecoderDataset.load(path: Self.path("data-text-ids.jsonl"))
        XCTAssertEqual(fromText, fromIds)
        XCTAssertEqual(fromText.filter { $0.labels.contains(DecoderExample.ignored) }.count, 3)
    }

    /// A model directory with the tiny GPT-2 of fixtures/fisher-decoders and the tiny tokenizer.
    func modelWithTokenizer(in directory: URL) throws -> String {
        let model = directory.appendingPathComponent("gpt2").path
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: Fixtures.path("fisher-decoders/gpt2/\(file)"), toPath: model + "/" + file)
        }
        try FileManager.default.copyItem(atPath: Self.path("tiny/tokenizer.json"), toPath: model + "/tokenizer.json")
        return model
    }

    func testFisherOfTextEqualsFisherOfItsIds() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try modelWithTokenizer(in: directory)
        let estimator = DecoderFisherEstimator(model: try DecoderModel(directory: model),
                                               options: FisherOptions(kind: .empirical, parameters: .both, samples: nil))
        let fromText = try estimator.run(dataPath: Self.path("data-text.jsonl"))
        let fromIds = try estimator.run(dataPath: Self.path("data-text-ids.jsonl"))
        XCTAssertEqual(fromText.tensors, fromIds.tensors)
        let out = directory.appendingPathComponent("f.safetensors").path
        let run = try CommandRunner.run(["fisher", model, "--data", Self.path("data-text.jsonl"), "-o", out, "--params", "norm"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try FisherFile.read(path: out).metadata["samples"], "6")
    }

    /// Writes `text` to `name` in `directory`; returns its path.
    static func write(_ text: String, to name: String, in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testRefusals() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func write(_ name: String, _ text: String) throws -> String { try Self.write(text, to: name, in: directory) }
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: Self.path("tiny/tokenizer.json"))
        let cases = [
            ("{\"prompt\": \"the cat \", \"completion\": \"sat.\"}", "prefix"),
            ("{\"text\": \"a\", \"input_ids\": [1, 2]}", "together"),
            ("{\"prompt\": \"the cat\"}", "'completion' is missing"),
            ("{\"text\": 3}", "not a string"),
            ("{\"text\": \"the cat\", \"labels\": [1, 2]}", "goes with input_ids"),
            ("{\"text\": \"\"}", "no tokens"),
        ]
        for (i, (line, message)) in cases.enumerated() {
            let data = try write("d\(i).jsonl", line + "\n")
            XCTAssertThrowsError(try DecoderDataset.load(path: data, tokenizer: { tokenizer })) {
                XCTAssertTrue("\($0)".contains(message) && "\($0)".contains("d\(i).jsonl:1"), "\($0)")
            }
        }
        // A pre-tokenizer regex that is not one of the three, and a decoder directory without tokenizer.json.
        var file = try String(contentsOfFile: Self.path("llama3/tokenizer.json"), encoding: .utf8)
        file = file.replacingOccurrences(of: "\\\\p{N}{1,3}", with: "\\\\p{N}{1,4}")
        let odd = directory.appendingPathComponent("odd")
        try FileManager.default.createDirectory(at: odd, withIntermediateDirectories: true)
        _ = try write("odd/tokenizer.json", file)
        XCTAssertThrowsError(try TokenizerLoader.byteLevel(directory: odd.path)) {
            XCTAssertTrue("\($0)".contains("odd/tokenizer.json") && "\($0)".contains("Split"), "\($0)")
        }
        XCTAssertThrowsError(try TokenizerLoader.byteLevel(directory: directory.path)) {
            XCTAssertTrue("\($0)".contains("tokenizer.json"), "\($0)")
        }
        XCTAssertThrowsError(try TokenizerLoader.byteLevel(directory: Fixtures.path("fisher-encoders/unigram"))) {
            XCTAssertTrue("\($0)".contains("Unigram"), "\($0)")
        }
    }
}
