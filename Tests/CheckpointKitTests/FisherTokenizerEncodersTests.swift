import Foundation
import XCTest
@testable import CheckpointKit

/// The byte-level BPE (RoBERTa) and Unigram (XLM-R) tokenizers against the `tokenizers` library on
/// 2,312 texts (the data lines, tricky non-ASCII strings and noisy lines of fixtures/fisher, special
/// tokens inside text) and pairs; tiny tokenizer.json files trained with `tokenizers`
/// (fixtures/make_fisher_encoder_fixtures.py).
final class FisherTokenizerEncodersTests: XCTestCase {
    struct Expected {
        var singles: [(String, [Int32])]
        var pairs: [(String, String, [Int32])]
    }

    static func ids(_ value: JSONValue) -> [Int32] { (value.arrayValue ?? []).compactMap { $0.intValue.map(Int32.init) } }

    static func expected(_ name: String) throws -> Expected {
        let texts = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("fisher/expected-tokens.json")))))
        let ours = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("fisher-encoders/expected-\(name)-tokens.json")))))
        let tiny = texts["tiny"]!
        let singleTexts = (tiny["single"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }
            + (ours["extra_texts"]?.arrayValue ?? []).compactMap(\.stringValue)
        let pairTexts = (tiny["pair"]?.arrayValue ?? []).filter { $0["max_length"]?.intValue == 128 }
            .compactMap { p in p["text"]?.stringValue.flatMap { a in p["text_pair"]?.stringValue.map { (a, $0) } } }
        let singleIds = (ours["single"]?.arrayValue ?? []).map(ids), pairIds = (ours["pair"]?.arrayValue ?? []).map(ids)
        XCTAssertEqual(singleTexts.count, singleIds.count)
        XCTAssertEqual(pairTexts.count, pairIds.count)
        return Expected(singles: Array(zip(singleTexts, singleIds)), pairs: zip(pairTexts, pairIds).map { ($0.0, $0.1, $1) })
    }

    func check(_ tokenizer: any TextTokenizer, _ name: String) throws {
        let expected = try Self.expected(name)
        XCTAssertGreaterThan(expected.singles.count, 2000)
        var wrong = 0
        for (text, ids) in expected.singles {
            let got = tokenizer.encode(text, pair: nil, maxLength: 100_000).inputIds
            if got != ids {
                wrong += 1
                if wrong <= 5 { XCTFail("\(name) \(text.debugDescription): \(got) != \(ids)") }
            }
        }
        for (a, b, ids) in expected.pairs {
            XCTAssertEqual(tokenizer.encode(a, pair: b, maxLength: 100_000).inputIds, ids, "\(name) pair \(a.prefix(30))")
        }
        print("\(name): \(expected.singles.count - wrong) of \(expected.singles.count) texts and \(expected.pairs.count) pairs identical")
        XCTAssertEqual(wrong, 0)
    }

    func testByteLevelBPEMatchesTokenizers() throws {
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: Fixtures.path("fisher-encoders/bpe/tokenizer.json"))
        try check(tokenizer, "bpe")
        // The plain API: no special tokens.
        XCTAssertEqual(tokenizer.encode("a <mask> b").first, try Self.expected("bpe").singles.first { $0.0 == "a <mask> b" }?.1[1])
    }

    func testUnigramMatchesTokenizers() throws {
        try check(try UnigramTokenizer(tokenizerJSON: Fixtures.path("fisher-encoders/unigram/tokenizer.json")), "unigram")
    }

    /// XLM-R's layout: SentencePiece's precompiled character map (here a small rule set trained into a
    /// SentencePiece model and converted by transformers) + Replace, Metaspace, Unigram.
    func testSentencePieceWithPrecompiledMapMatchesTokenizers() throws {
        try check(try UnigramTokenizer(tokenizerJSON: Fixtures.path("fisher-encoders/sentencepiece/tokenizer.json")), "sentencepiece")
    }

    /// The loader picks the tokenizer by the model type of tokenizer.json.
    func testLoaderDispatchesOnModelType() throws {
        let dir = try Fixtures.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        for name in ["bpe", "unigram"] {
            let sub = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: Fixtures.path("fisher-encoders/\(name)/tokenizer.json"), toPath: sub.appendingPathComponent("tokenizer.json").path)
        }
        XCTAssertTrue(try TokenizerLoader.load(directory: dir.appendingPathComponent("bpe").path) is ByteLevelBPETokenizer)
        XCTAssertTrue(try TokenizerLoader.load(directory: dir.appendingPathComponent("unigram").path) is UnigramTokenizer)
        XCTAssertTrue(try TokenizerLoader.load(directory: Fixtures.path("fisher/tiny-model")) is WordPieceTokenizer)
    }

    /// Truncation keeps the special tokens: `<s> A </s></s> B </s>` within the length, longest first.
    func testTruncationKeepsSpecialTokens() throws {
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: Fixtures.path("fisher-encoders/bpe/tokenizer.json"))
        let a = tokenizer.encode(String(repeating: "word ", count: 40)), b = tokenizer.encode("short")
        let single = tokenizer.encode(String(repeating: "word ", count: 40), pair: nil, maxLength: 10)
        XCTAssertEqual(single.inputIds, [0] + a.prefix(8) + [2])
        let pair = tokenizer.encode(String(repeating: "word ", count: 40), pair: "short", maxLength: 12)
        XCTAssertEqual(pair.inputIds, [0] + a.prefix(8 - b.count) + [2, 2] + b + [2])
        XCTAssertEqual(pair.tokenTypeIds, [Int32](repeating: 0, count: 12))
    }

    /// What the tokenizers do not implement is refused, naming it.
    func testUnsupportedComponentsAreRefused() throws {
        let source = try String(contentsOfFile: Fixtures.path("fisher-encoders/unigram/tokenizer.json"), encoding: .utf8)
        let dir = try Fixtures.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        for (edit, word) in [(("\"type\": \"NFKC\"", "\"type\": \"Precompiled\", \"precompiled_charsmap\": \"\""), "Precompiled"),
                             (("\"type\": \"Metaspace\"", "\"type\": \"Whitespace\""), "Metaspace"),
                             (("\"Regex\": \" {2,}\"", "\"Regex\": \"\\\\s+\""), "Replace")] {
            let path = dir.appendingPathComponent("\(word).json").path
            try source.replacingOccurrences(of: edit.0, with: edit.1).write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try UnigramTokenizer(tokenizerJSON: path)) { error in
                guard case .invalidTokenizer? = error as? FisherError else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains(word), "\(error)")
            }
        }
    }
}
