import Foundation

/// What the Fisher data loader needs from a tokenizer: text (and an optional second text) to the
/// model's ids with its special tokens, truncated to a length. WordPiece (BERT), byte-level BPE
/// (RoBERTa, GPT-2) and Unigram (XLM-R) implement it.
public protocol TextTokenizer: Sendable {
    /// The ids of `text` (and `pair`) with the special tokens the tokenizer's post-processor adds,
    /// truncated longest-first to at most `maxLength` tokens.
    func encode(_ text: String, pair: String?, maxLength: Int) -> TokenizedInput
}

extension WordPieceTokenizer: TextTokenizer {}

/// Finds the tokenizer of a model directory.
public enum TokenizerLoader {
    /// The tokenizer of `directory`: its `tokenizer.json` by model type (WordPiece, BPE with the
    /// byte-level pre-tokenizer, Unigram), or `vocab.txt` for WordPiece.
    public static func load(directory: String) throws(FisherError) -> any TextTokenizer {
        let json = directory + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: json) else { return try WordPieceTokenizer.load(directory: directory) }
        let file = try TokenizerJSON(path: json)
        switch file.modelType {
        case "WordPiece": return try WordPieceTokenizer.load(file)
        case "BPE": return try ByteLevelBPETokenizer(file)
        case "Unigram": return try UnigramTokenizer(file)
        default:
            throw .invalidTokenizer(path: json, reason: "model type is \(file.modelType), supported are WordPiece, BPE and Unigram; give pre-tokenized input_ids in a JSONL data file instead")
        }
    }
}

extension TokenizerLoader {
    /// The byte-level BPE tokenizer (GPT-2, Llama 3, Qwen2 style) of a decoder's `directory`, from
    /// its `tokenizer.json`; anything else is refused, naming the file.
    public static func byteLevel(directory: String) throws(FisherError) -> ByteLevelBPETokenizer {
        let json = directory + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: json) else {
            throw .invalidTokenizer(path: json, reason: "not found: text data for a decoder is tokenized with the model's tokenizer.json; or give pre-tokenized input_ids")
        }
        let file = try TokenizerJSON(path: json)
        guard file.modelType == "BPE" else {
            throw .invalidTokenizer(path: json, reason: "model type is \(file.modelType); a decoder's text is tokenized with byte-level BPE only; give pre-tokenized input_ids instead")
        }
        return try ByteLevelBPETokenizer(file)
    }
}

/// How many ids of a pair each side keeps when both together exceed `budget`, as `tokenizers`'
/// longest-first truncation: the shorter keeps its length if it fits in half the budget, otherwise
/// both get half, the longer one the odd id.
enum PairTruncation {
    static func lengths(_ first: Int, _ second: Int, budget: Int) -> (Int, Int) {
        var n1 = first, n2 = second
        guard n1 + n2 > budget else { return (n1, n2) }
        let swap = n1 > n2
        if swap { Swift.swap(&n1, &n2) }
        if n1 > budget { n2 = n1 } else { n2 = max(n1, budget - n1) }
        if n1 + n2 > budget {
            n1 = budget / 2
            n2 = n1 + budget % 2
        }
        if swap { Swift.swap(&n1, &n2) }
        return (n1, n2)
    }
}
