import Foundation
import XCTest
@testable import CheckpointKit

/// The regime rule (issue 14, "the regime line", `man ckpt-diff`, section Regime) on one small
/// checkpoint per regime (fixtures/regime, written by fixtures/make_regime_fixtures.py with numpy;
/// counts in expected.json from numpy).
final class RegimeRuleTests: XCTestCase {
    static let regimes = ["layernorm", "bias", "last2", "head", "full", "sparse", "identical"]

    func expected() throws -> [String: [String: Any]] {
        try XCTUnwrap(try Fixtures.json("regime/expected.json") as? [String: [String: Any]])
    }

    func diff(_ regime: String, options: CheckpointDiff.Options = .init()) throws -> CheckpointDiff {
        try CheckpointDiff(base: try CheckpointOpener.open(Fixtures.path("regime/base.safetensors")),
                           finetuned: try CheckpointOpener.open(Fixtures.path("regime/ft-\(regime).safetensors")), options: options)
    }

    func testEachRegimeIsNamed() throws {
        let expected = try expected()
        for regime in Self.regimes {
            let want = try XCTUnwrap(expected[regime], regime)
            let verdict = FineTuningRegime(try diff(regime))
            XCTAssertEqual(verdict.identifier, want["identifier"] as? String, verdict.line)
            XCTAssertEqual(verdict.changedParameters, want["changed_parameters"] as? Int, regime)
            XCTAssertEqual(verdict.parameters, want["parameters"] as? Int, regime)
        }
    }

    /// The full fine-tune's untouched word-embedding rows outnumber everything else it changed:
    /// still full, with the rows named as a detail.
    func testFullFineTuningWithUntouchedEmbeddingRows() throws {
        let rows = try XCTUnwrap(try expected()["full"]?["unchanged_embedding_rows"] as? [String: Int])
        XCTAssertEqual(rows, ["word_embeddings": 350, "token_type_embeddings": 1, "position_embeddings": 0])
        let diff = try diff("full")
        let verdict = FineTuningRegime(diff)
        XCTAssertEqual(verdict.kind, .full)
        XCTAssertLessThan(Double(verdict.changedParameters), 0.5 * Double(verdict.parameters))
        XCTAssertTrue(verdict.line.contains("in every tensor; word_embeddings: 350 of 400 rows unchanged, token_type_embeddings: 1 of 2 rows unchanged, tokens absent from the training data"), verdict.line)
        for tensor in diff.tensors {
            let table = tensor.name.split(separator: ".").dropLast().last.map(String.init) ?? ""
            if tensor.role.kind == .embedding {
                XCTAssertEqual(tensor.changedRows, tensor.baseShape[0] - rows[table]!, tensor.name)
            } else {
                XCTAssertNil(tensor.changedRows, tensor.name)
            }
        }
    }

    /// Rows are counted once each however the table is cut into work items (a row may straddle
    /// two chunks).
    func testRowCountsDoNotDependOnChunking() throws {
        let whole = try diff("full")
        for chunk in [7, 8, 100, 1000] {
            let chunked = try diff("full", options: .init(workers: 2, chunkElements: chunk))
            XCTAssertEqual(chunked.tensors.map(\.changedRows), whole.tensors.map(\.changedRows), "chunk \(chunk)")
        }
    }

    /// A sparse update stays sparse: untouched rows are discounted only in embedding tables.
    func testSparseStaysSparse() throws {
        let verdict = FineTuningRegime(try diff("sparse"))
        XCTAssertEqual(verdict.kind, .sparse)
        XCTAssertEqual(verdict.changedTensors, verdict.tensors)
        XCTAssertTrue(verdict.line.hasPrefix("regime: sparse fine-tuning (275 of 5,232 parameters changed (5.26%), spread over 55 tensors)"), verdict.line)
    }

    /// The row counts reach the JSON document.
    func testChangedRowsInTheJSONDocument() throws {
        let document = DiffDocument(diff: try diff("full"), metric: .relative)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: try document.jsonData()) as? [String: Any])
        let tensors = try XCTUnwrap(json["tensors"] as? [[String: Any]])
        let word = try XCTUnwrap(tensors.first { $0["name"] as? String == "embeddings.word_embeddings.weight" })
        XCTAssertEqual(word["changed_rows"] as? Int, 50)
        let query = try XCTUnwrap(tensors.first { $0["name"] as? String == "encoder.layer.0.attention.self.query.weight" })
        XCTAssertTrue(query["changed_rows"] is NSNull)
        XCTAssertNotNil(json["pairing"] as? [String: Any])
    }
}

// MARK: - The real MiniLM base

extension RegimeRuleTests {
    /// Token ids of the MiniLM task examples, from Hugging Face's tokenizer
    /// (fixtures/fisher/expected-tokens.json).
    func usedTokenIDs() throws -> Set<Int> {
        let json = try XCTUnwrap(try Fixtures.json("fisher/expected-tokens.json") as? [String: Any])
        var ids = Set<Int>()
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                for (key, member) in object {
                    if key == "input_ids", let list = member as? [Int] { ids.formUnion(list) } else { walk(member) }
                }
            } else if let list = value as? [Any] {
                list.forEach(walk)
            }
        }
        walk(try XCTUnwrap(json["minilm"]))
        return ids
    }

    /// data/minilm/ft-full (seeded noise on every element) made realistic on the fly: the
    /// word-embedding rows of tokens absent from the task data and the position rows past the
    /// 128-token training length keep the base's bytes, as in a real full fine-tune. Under half of
    /// the parameters then changed, and the line still says full fine-tuning, with the rows.
    func testRealMiniLMFullFineTuneWithUntouchedRows() throws {
        let base = try CheckpointOpener.open(try DiffRealCheckpointTests.present("base"))
        let finetuned = try CheckpointOpener.open(try DiffRealCheckpointTests.present("ft-full"))
        let used = try usedTokenIDs()
        XCTAssertEqual(used.count, 1019)
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("ft-full-rows.safetensors").path
        let entries = finetuned.tensors.map { tensor -> SafetensorsWriter.Entry in
            SafetensorsWriter.Entry(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape) { consume in
                var bytes = try finetuned.withBytes(of: tensor) { [UInt8]($0) }
                let keep: ((Int) -> Bool)? = tensor.name.hasSuffix("word_embeddings.weight") ? { used.contains($0) }
                    : tensor.name.hasSuffix("position_embeddings.weight") ? { $0 < 128 } : nil
                if let keep, let original = base.tensor(named: String(tensor.name.dropFirst("bert.".count))) {
                    let rowBytes = tensor.byteCount / tensor.shape[0]
                    try base.withBytes(of: original) { b in
                        for row in 0..<tensor.shape[0] where !keep(row) {
                            bytes.replaceSubrange(row * rowBytes..<(row + 1) * rowBytes, with: b[row * rowBytes..<(row + 1) * rowBytes])
                        }
                    }
                }
                try bytes.withUnsafeBytes { try consume($0) }
            }
        }
        _ = try SafetensorsWriter(metadata: finetuned.metadata, entries: entries).write(to: path)
        let diff = try CheckpointDiff(base: base, finetuned: try CheckpointOpener.open(path))
        let verdict = FineTuningRegime(diff)
        XCTAssertEqual(verdict.kind, .full, verdict.line)
        XCTAssertLessThan(Double(verdict.changedParameters), 0.5 * Double(verdict.parameters))
        XCTAssertTrue(verdict.line.contains("in every tensor; word_embeddings: 29,503 of 30,522 rows unchanged, position_embeddings: 384 of 512 rows unchanged, tokens absent from the training data"), verdict.line)
        let word = try XCTUnwrap(diff.tensors.first { $0.name == "embeddings.word_embeddings.weight" })
        XCTAssertEqual(word.changedRows, 1019)
    }
}
