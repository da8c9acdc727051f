import CheckpointKit
import Foundation
import FuzzCommon

/// Arbitrary bytes as a tokenizer: written both as `vocab.txt` (one token a line) and as
/// `tokenizer.json`, each loaded; whatever loads then encodes the input itself (lossily decoded as
/// UTF-8) and a few fixed texts, single and as a pair, truncated. Load errors must be typed; encoding
/// must never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    for name in ["vocab.txt", "tokenizer.json"] {
        let path = FuzzInput.write(start, count, name: name)
        defer { unlink(path) }
        do {
            let tokenizer = try WordPieceTokenizer.load(directory: FuzzInput.scratchPath(""))
            encode(text, with: tokenizer)
        } catch {
            FuzzInput.requireTyped(error)
        }
    }
    return 0
}

func encode(_ text: String, with tokenizer: WordPieceTokenizer) {
    let sample = String(text.prefix(4096))
    _ = tokenizer.tokens(sample)
    _ = tokenizer.encode(sample, pair: "[CLS] héllo, wörld! 中文 ##ing [SEP]", maxLength: 64)
    _ = tokenizer.encode("the quick brown fox", pair: sample, maxLength: 3)
    _ = tokenizer.encode(sample, maxLength: 2)
}
