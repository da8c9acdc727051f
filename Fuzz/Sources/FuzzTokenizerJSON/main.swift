import CheckpointKit
import Foundation
import FuzzCommon

/// Arbitrary bytes as a model directory's `tokenizer.json`, loaded by ``TokenizerLoader`` (WordPiece,
/// byte-level BPE or Unigram by its model type, with their normalizers, pre-tokenizers, added tokens
/// and post-processors); whatever loads encodes the input itself (lossily decoded as UTF-8) and fixed
/// texts, single and as a pair, truncated. Load errors must be typed; encoding must never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerJSON(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    let path = FuzzInput.write(start, count, name: "tokenizer.json")
    defer { unlink(path) }
    do {
        let tokenizer = try TokenizerLoader.load(directory: FuzzInput.scratchPath(""))
        let sample = String(text.prefix(4096))
        _ = tokenizer.encode(sample, pair: "<s> héllo,  wörld! 中文 it's <mask> </s>", maxLength: 64)
        _ = tokenizer.encode("the quick brown fox", pair: sample, maxLength: 3)
        _ = tokenizer.encode(sample, pair: nil, maxLength: 2)
    } catch {
        FuzzInput.requireTyped(error)
    }
    return 0
}
