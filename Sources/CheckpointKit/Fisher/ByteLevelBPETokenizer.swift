import Foundation

/// The byte-level BPE tokenizer of RoBERTa and GPT-2, read from a `tokenizers` `tokenizer.json`.
///
/// As `tokenizers` does: added tokens are split out of the raw text first; each remaining piece is
/// normalized (``TokenizerNormalizer``), given a leading space if `add_prefix_space`, cut into words by
/// GPT-2's pattern (``ByteLevelPattern``), each word's UTF-8 bytes mapped to GPT-2's printable byte
/// alphabet and merged pair by pair, lowest merge rank first (leftmost on ties). The post-processor's
/// special tokens (`<s> A </s>`, `<s> A </s></s> B </s>`, or none) come from ``TokenizerTemplate``.
public final class ByteLevelBPETokenizer: TextTokenizer, @unchecked Sendable {
    /// Most merges a file may list (GPT-2 has 50,000; the largest real ones a few hundred thousand).
    public static let maxMerges = 10_000_000

    /// Token id of each byte's character in the byte-level alphabet, or -1 when the vocabulary lacks it.
    private let byteIds: [Int32]
    /// Rank and result of merging the pair `left << 32 | right`.
    private let merges: [Int64: (rank: Int32, id: Int32)]
    private let vocabulary: [String: Int32]
    private let unknownId: Int32?
    private let ignoreMerges: Bool
    private let addPrefixSpace: Bool
    private let pattern: ByteLevelPattern
    private let normalizer: TokenizerNormalizer
    private let added: AddedTokens
    private let template: TokenizerTemplate

    /// Loads `path`, a `tokenizer.json` whose model is BPE with the byte-level pre-tokenizer.
    public convenience init(tokenizerJSON path: String) throws(FisherError) {
        try self.init(TokenizerJSON(path: path))
    }

    init(_ file: TokenizerJSON) throws(FisherError) {
        let model = file.model
        guard file.modelType == "BPE" else { throw file.invalid("model type is \(file.modelType), not BPE") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key]?.stringValue, !v.isEmpty { throw file.invalid("model.\(key) '\(v)' is not supported") }
        }
        if case .bool(true)? = model["byte_fallback"] { throw file.invalid("model.byte_fallback is not supported") }
        if let dropout = model["dropout"], dropout != .null, dropout != .number(0), dropout != .integer(0) {
            throw file.invalid("model.dropout is not supported (it makes tokenization random)")
        }
        let vocabulary = try Self.vocabulary(file)
        self.vocabulary = vocabulary
        merges = try Self.merges(file, vocabulary: vocabulary)
        let alphabet = ByteLevelPattern.byteAlphabet
        byteIds = alphabet.map { vocabulary[String($0)] ?? -1 }
        unknownId = model["unk_token"]?.stringValue.flatMap { vocabulary[$0] }
        ignoreMerges = model["ignore_merges"] == .bool(true)
        (addPrefixSpace, pattern) = try Self.preTokenizer(file)
        normalizer = try TokenizerNormalizer(file)
        added = try file.addedTokens()
        template = try file.template(vocabulary: { vocabulary[$0] })
    }

    private static func vocabulary(_ file: TokenizerJSON) throws(FisherError) -> [String: Int32] {
        guard let members = file.model["vocab"]?.objectValue else { throw file.invalid("model.vocab is not an object") }
        guard members.count <= WordPieceTokenizer.maxVocabularySize else {
            throw file.invalid("\(members.count) tokens, over the limit of \(WordPieceTokenizer.maxVocabularySize)")
        }
        var vocabulary: [String: Int32] = [:]
        vocabulary.reserveCapacity(members.count)
        for member in members {
            guard let id = member.value.intValue, id >= 0, id < WordPieceTokenizer.maxVocabularySize else {
                throw file.invalid("vocabulary id of '\(member.key)' is not an integer in 0..<\(WordPieceTokenizer.maxVocabularySize)")
            }
            guard member.key.utf8.count <= WordPieceTokenizer.maxTokenBytes else {
                throw file.invalid("a token is \(member.key.utf8.count) bytes long, over the limit of \(WordPieceTokenizer.maxTokenBytes)")
            }
            vocabulary[member.key] = Int32(id)
        }
        return vocabulary
    }

    /// `model.merges`, each `"a b"` or `["a", "b"]`, rank = position.
    private static func merges(_ file: TokenizerJSON, vocabulary: [String: Int32]) throws(FisherError) -> [Int64: (rank: Int32, id: Int32)] {
        let list = file.model["merges"]?.arrayValue ?? []
        guard list.count <= maxMerges else { throw file.invalid("\(list.count) merges, over the limit of \(maxMerges)") }
        var merges: [Int64: (rank: Int32, id: Int32)] = [:]
        merges.reserveCapacity(list.count)
        for (rank, merge) in list.enumerated() {
            let parts: [String]
            if let s = merge.stringValue {
                parts = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else {
                parts = merge.arrayValue?.compactMap(\.stringValue) ?? []
            }
            guard parts.count == 2, let a = vocabulary[parts[0]], let b = vocabulary[parts[1]], let ab = vocabulary[parts[0] + parts[1]] else {
                throw file.invalid("merge \(rank) is not two vocabulary tokens whose concatenation is one")
            }
            let key = Int64(a) << 32 | Int64(b)
            if merges[key] == nil { merges[key] = (Int32(rank), ab) }
        }
        return merges
    }

    /// `ByteLevel` (its `add_prefix_space`; `use_regex` cuts words with GPT-2's pattern), optionally
    /// after a `Split` by GPT-2's, Llama 3's or Qwen2's pattern (Llama 3 and Qwen2 split, then map
    /// bytes with `use_regex` false). A second cut inside the first, or a split after the byte
    /// mapping, is refused rather than approximated.
    private static func preTokenizer(_ file: TokenizerJSON) throws(FisherError) -> (Bool, ByteLevelPattern) {
        var prefixSpace = false, split: ByteLevelPattern?, byteLevelRegex: Bool?
        for step in try file.steps("pre_tokenizer") {
            switch step["type"]?.stringValue {
            case "ByteLevel"? where byteLevelRegex == nil:
                prefixSpace = step["add_prefix_space"] == .bool(true)
                byteLevelRegex = step["use_regex"] != .bool(false)
            case "Split"? where byteLevelRegex == nil && split == nil:
                guard let regex = step["pattern"]?["Regex"]?.stringValue ?? step["pattern"]?["String"]?.stringValue,
                      let p = ByteLevelPattern(regex: regex), step["behavior"]?.stringValue == "Isolated",
                      step["invert"] != .bool(true) else {
                    throw file.invalid("pre_tokenizer Split is supported only with GPT-2's, Llama 3's or Qwen2's pattern, Isolated")
                }
                split = p
            default:
                throw file.invalid("pre_tokenizer \(step["type"]?.stringValue ?? "?") is not supported here with BPE (one Split, then ByteLevel, is)")
            }
        }
        guard let byteLevelRegex else { throw file.invalid("BPE without the ByteLevel pre-tokenizer is not supported") }
        switch (split, byteLevelRegex) {
        case (nil, let regex): return (prefixSpace, regex ? .gpt2 : .none)
        case (let p?, false): return (prefixSpace, p)
        case (let p?, true) where p == .gpt2: return (prefixSpace, p)
        case (_?, true): throw file.invalid("pre_tokenizer Split followed by ByteLevel with use_regex true (two cuts) is not supported")
        }
    }

    /// The ids of `text` without special tokens or truncation.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        for segment in added.split(text) {
            switch segment {
            case let .token(id): ids.append(id)
            case let .text(scalars):
                var normalized = Array(normalizer.apply(String(String.UnicodeScalarView(scalars))).unicodeScalars)
                if addPrefixSpace, normalized.first != " " { normalized.insert(" ", at: 0) }
                for word in pattern.words(normalized) { encodeWord(normalized[word], into: &ids) }
            }
        }
        return ids
    }

    public func encode(_ text: String, pair: String?, maxLength: Int) -> TokenizedInput {
        template.apply(encode(text), pair.map { encode($0) }, maxLength: maxLength)
    }

    /// A causal language model's example from a prompt and its completion, the way TRL's SFT
    /// trainer builds one: `prompt + completion` tokenized as one text in the post-processor's
    /// template (so the boundary is tokenized as in training), and `promptCount` leading ids (the
    /// template's leading special tokens and the prompt's own tokens) to mask. Nil when the prompt's
    /// tokens are not a prefix of the whole's (a token straddles the boundary, as when the prompt
    /// ends in a space): no split of the ids would then be the prompt.
    public func encode(prompt: String, completion: String) -> (ids: [Int32], promptCount: Int)? {
        let promptIds = encode(prompt), wholeIds = encode(prompt + completion)
        guard wholeIds.starts(with: promptIds) else { return nil }
        let leading = template.single.prefix { $0 != .a }.count
        return (template.apply(wholeIds, nil, maxLength: Int.max).inputIds, leading + promptIds.count)
    }

    /// One word: its UTF-8 bytes as byte-alphabet tokens, merged.
    private func encodeWord(_ scalars: ArraySlice<Unicode.Scalar>, into ids: inout [Int32]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(scalars.count * 4)
        for s in scalars { UTF8.encode(s) { bytes.append($0) } }
        var symbols: [Int32] = []
        symbols.reserveCapacity(bytes.count)
        for b in bytes {
            let id = byteIds[Int(b)]
            if id >= 0 { symbols.append(id) } else if let unknownId { symbols.append(unknownId) }
        }
        if ignoreMerges {
            let word = String(bytes.map { ByteLevelPattern.byteAlphabet[Int($0)] })
            if let id = vocabulary[word] { ids.append(id); return }
        }
        ids += BPEMerger.merge(symbols, merges)
    }
}
