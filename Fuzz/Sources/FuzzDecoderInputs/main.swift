import CheckpointKit
import Foundation
import FuzzCommon

/// Arbitrary bytes as the decoder engine's three inputs: a `config.json` (parsed and checked), a
/// `data.jsonl` (pre-tokenized sequences, or `text` / `prompt` + `completion` tokenized with the
/// committed tiny byte-level BPE tokenizer), and a draws file checked against the committed decoder
/// fixture's examples.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecoderInputs(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let directory = FuzzInput.scratchPath("decoder")
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let config = directory + "/config.json"
    FileManager.default.createFile(atPath: config, contents: Data(bytes: start, count: count))
    defer { unlink(config) }
    do { _ = try DecoderConfig.load(directory: directory) } catch { FuzzInput.requireTyped(error) }
    let path = FuzzInput.write(start, count, name: "data.jsonl")
    defer { unlink(path) }
    do {
        let examples = try DecoderDataset.load(path: path, limit: 64, tokenizer: { DecoderFixture.tokenizer })
        _ = examples.map(\.labelPositions)
    } catch {
        FuzzInput.requireTyped(error)
    }
    do { _ = try DecoderDraws.load(path: path, examples: DecoderFixture.examples, vocabSize: 64) } catch { FuzzInput.requireTyped(error) }
    return 0
}

enum DecoderFixture {
    /// The committed decoder fixture's examples, found from this source file.
    nonisolated(unsafe) static let examples: [DecoderExample] = {
        let root = #filePath.components(separatedBy: "/Fuzz/")[0]
        return try! DecoderDataset.load(path: root + "/fixtures/fisher-decoders/data.jsonl")
    }()
    /// The committed tiny GPT-2-style tokenizer of the text-input tests.
    nonisolated(unsafe) static let tokenizer: ByteLevelBPETokenizer = {
        let root = #filePath.components(separatedBy: "/Fuzz/")[0]
        return try! ByteLevelBPETokenizer(tokenizerJSON: root + "/fixtures/decoder-tokenizers/tiny/tokenizer.json")
    }()
}
