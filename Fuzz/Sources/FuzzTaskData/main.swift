import CheckpointKit
import Foundation
import FuzzCommon

/// Arbitrary bytes as a task data file, read as TSV, CSV and JSONL (format from the file name),
/// with and without a sample limit; the examples read are encoded with the tiny fixture tokenizer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTaskData(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    for (name, limit) in [("data.tsv", nil), ("data.csv", 3), ("data.jsonl", nil)] as [(String, Int?)] {
        let path = FuzzInput.write(start, count, name: name)
        defer { unlink(path) }
        do {
            let dataset = try TaskDataset.load(path: path, options: TaskDatasetOptions(limit: limit))
            let tokenizer = FuzzTokenizerFixture.tokenizer
            for example in dataset.examples.prefix(64) {
                if let text = example.text {
                    _ = tokenizer.encode(text, pair: example.textPair, maxLength: 32)
                } else if let ids = example.inputIds {
                    _ = tokenizer.encode(ids: ids, pair: nil, maxLength: 32)
                }
            }
        } catch {
            FuzzInput.requireTyped(error)
        }
    }
    return 0
}

enum FuzzTokenizerFixture {
    /// The committed tiny BERT tokenizer, found from this source file.
    nonisolated(unsafe) static let tokenizer: WordPieceTokenizer = {
        let root = #filePath.components(separatedBy: "/Fuzz/")[0]
        return try! WordPieceTokenizer.load(directory: root + "/fixtures/fisher/tiny-model")
    }()
}
