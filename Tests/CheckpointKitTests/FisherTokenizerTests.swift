import Foundation
import XCTest
@testable import CheckpointKit

/// WordPiece ids against Hugging Face `tokenizers` (BertTokenizerFast) on the data lines, tricky
/// strings (accents, CJK, punctuation, control characters, long words), noisy generated lines and
/// pairs with truncation (fixtures/make_fisher_fixtures.py).
final class FisherTokenizerTests: XCTestCase {
    struct Case {
        var text: String
        var pair: String?
        var maxLength: Int
        var ids: [Int32]
        var types: [Int32]?
    }

    static func cases(_ which: String) throws -> [Case] {
        let root = try Fixtures.json("fisher/expected-tokens.json") as! [String: Any]
        let maxLength = root["max_length"] as! Int
        let set = root[which] as! [String: Any]
        var out: [Case] = []
        for item in set["single"] as! [[String: Any]] {
            out.append(Case(text: item["text"] as! String, pair: nil, maxLength: maxLength,
                            ids: (item["input_ids"] as! [Int]).map { Int32($0) }, types: nil))
        }
        for item in set["pair"] as! [[String: Any]] {
            out.append(Case(text: item["text"] as! String, pair: (item["text_pair"] as! String), maxLength: item["max_length"] as! Int,
                            ids: (item["input_ids"] as! [Int]).map { Int32($0) },
                            types: (item["token_type_ids"] as! [Int]).map { Int32($0) }))
        }
        return out
    }

    func check(_ tokenizer: WordPieceTokenizer, _ which: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let cases = try Self.cases(which)
        XCTAssertGreaterThan(cases.count, 2000)
        var failures = 0
        for c in cases {
            let encoded = tokenizer.encode(c.text, pair: c.pair, maxLength: c.maxLength)
            if encoded.inputIds != c.ids || (c.types != nil && encoded.tokenTypeIds != c.types!) {
                failures += 1
                if failures <= 10 {
                    XCTFail("\(which): \(c.text.debugDescription) \(c.pair?.prefix(20).debugDescription ?? ""): got \(encoded.inputIds), want \(c.ids)", file: file, line: line)
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(cases.count) encodings differ", file: file, line: line)
    }

    func testTinyTokenizerJSON() throws {
        try check(WordPieceTokenizer.load(tokenizerJSON: Fixtures.path("fisher/tiny-model/tokenizer.json")), "tiny")
    }

    func testTinyVocabTxt() throws {
        try check(WordPieceTokenizer.load(vocabTxt: Fixtures.path("fisher/tiny-model/vocab.txt"),
                                          config: Fixtures.path("fisher/tiny-model/tokenizer_config.json")), "tiny")
    }

    func testMiniLMTokenizerJSON() throws {
        try check(WordPieceTokenizer.load(tokenizerJSON: Fixtures.path("fisher/minilm-tokenizer/tokenizer.json")), "minilm")
    }

    func testMiniLMVocabTxt() throws {
        try check(WordPieceTokenizer.load(vocabTxt: Fixtures.path("fisher/minilm-tokenizer/vocab.txt"),
                                          config: Fixtures.path("fisher/minilm-tokenizer/tokenizer_config.json")), "minilm")
    }

    func testLongWordIsLinear() throws {
        let tokenizer = try WordPieceTokenizer.load(directory: Fixtures.path("fisher/minilm-tokenizer"))
        let word = String(repeating: "ab", count: 50)
        XCTAssertEqual(tokenizer.ids(word).count, 50)  // 'ab' + 49 x '##ab'
        XCTAssertEqual(tokenizer.ids(word + "c"), [tokenizer.unknownTokenId])  // 101 characters
        let start = Date()
        let text = String(repeating: word + " ", count: 2000)
        XCTAssertEqual(tokenizer.ids(text).count, 100_000)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }
}

/// The shared tokenizer expectations of fixtures/expected/tokenizer.json (made by
/// fixtures/make_fixtures.py from transformers and tokenizers, max_length 64, longest_first).
final class SharedTokenizerFixtureTests: XCTestCase {
    func testSharedExpectations() throws {
        let root = try Fixtures.json("expected/tokenizer.json") as! [String: Any]
        let maxLength = root["max_length"] as! Int
        let tiny = try WordPieceTokenizer.load(directory: Fixtures.path("tiny-bert/base"))
        let minilm = try WordPieceTokenizer.load(tokenizerJSON: Fixtures.path("fisher/minilm-tokenizer/tokenizer.json"))
        let cases = root["cases"] as! [[String: Any]]
        XCTAssertGreaterThan(cases.count, 40)
        for c in cases {
            let text = c["text"] as! String, pair = c["text_pair"] as? String
            for (name, tokenizer) in [("tiny", tiny), ("minilm", minilm)] {
                let expected = c[name] as! [String: Any]
                let encoded = tokenizer.encode(text, pair: pair, maxLength: maxLength)
                XCTAssertEqual(encoded.inputIds, (expected["input_ids"] as! [Int]).map { Int32($0) }, "\(name): \(text.debugDescription)")
                XCTAssertEqual(encoded.tokenTypeIds, (expected["token_type_ids"] as! [Int]).map { Int32($0) }, "\(name): \(text.debugDescription)")
            }
        }
    }
}
