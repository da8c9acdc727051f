import Foundation

/// BERT's tokenizer, behaving as Hugging Face's `BertTokenizerFast` (the `tokenizers` library):
///
/// 1. special tokens (`[CLS]`, `[SEP]`, ... and every non-normalized added token) written in the
///    text are matched first, leftmost-longest, and kept whole;
/// 2. `BertNormalizer`: clean text, CJK spacing, accent stripping (NFD, drop Mn), lower-casing
///    (full per-character mapping), in that order;
/// 3. `BertPreTokenizer`: split on whitespace, isolate every punctuation character (ASCII
///    punctuation and Unicode P*);
/// 4. WordPiece: greedy longest-match-first with `##` continuations through two byte tries, so a
///    word costs O(length x longest token), not O(length^2) substring look-ups; a word of more than
///    `maxInputCharsPerWord` scalars, or one that cannot be covered, becomes `[UNK]`;
/// 5. `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` with token types 0/1, truncated to `maxLength`
///    (longest-first for pairs, exactly as `tokenizers` splits the budget).
public final class WordPieceTokenizer: Sendable {
    public let normalizer: BertNormalizerOptions
    /// Token strings by id.
    public let vocabulary: [String]
    public let unknownTokenId: Int32
    public let clsTokenId: Int32
    public let sepTokenId: Int32
    public let padTokenId: Int32
    public let maxInputCharsPerWord: Int
    public let continuingSubwordPrefix: String

    private let tokenIds: [String: Int32]
    /// Tokens matched verbatim in the raw text, longest first.
    private let addedTokens: [(scalars: [Unicode.Scalar], id: Int32)]
    private let wordStartTrie: ByteTrie
    private let continuationTrie: ByteTrie

    /// - Parameters:
    ///   - vocabulary: token strings; a token's id is its index.
    ///   - addedTokens: tokens matched in the raw text before normalization; defaults to the BERT
    ///     special tokens present in the vocabulary.
    public init(vocabulary: [String], normalizer: BertNormalizerOptions = BertNormalizerOptions(),
                unknownToken: String = "[UNK]", clsToken: String = "[CLS]", sepToken: String = "[SEP]",
                padToken: String = "[PAD]", continuingSubwordPrefix: String = "##",
                maxInputCharsPerWord: Int = 100, addedTokens: [(String, Int32)]? = nil) throws(FisherError) {
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(vocabulary.count)
        for (i, token) in vocabulary.enumerated() { ids[token] = Int32(i) }  // the last duplicate wins, as in `tokenizers`
        func id(_ token: String) throws(FisherError) -> Int32 {
            guard let id = ids[token] else { throw .invalidTokenizer(path: "vocabulary", reason: "no '\(token)' token") }
            return id
        }
        self.vocabulary = vocabulary
        self.normalizer = normalizer
        self.tokenIds = ids
        self.unknownTokenId = try id(unknownToken)
        self.clsTokenId = try id(clsToken)
        self.sepTokenId = try id(sepToken)
        self.padTokenId = ids[padToken] ?? 0
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        let added = addedTokens ?? ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { token in ids[token].map { (token, $0) } }
        self.addedTokens = added.filter { !$0.0.isEmpty }
            .map { (Array($0.0.unicodeScalars), $0.1) }
            .sorted { $0.scalars.count > $1.scalars.count }
        var start = ByteTrie()
        var continuation = ByteTrie()
        for (token, tokenId) in ids {
            if !continuingSubwordPrefix.isEmpty, token.hasPrefix(continuingSubwordPrefix) {
                continuation.insert(Array(token.utf8.dropFirst(continuingSubwordPrefix.utf8.count)), id: tokenId)
            }
            start.insert(Array(token.utf8), id: tokenId)
        }
        wordStartTrie = start
        continuationTrie = continuation
    }

    /// The id of `token`, if it is in the vocabulary.
    public func id(of token: String) -> Int32? { tokenIds[token] }

    // MARK: Encoding

    /// The WordPiece ids of `text`, without special tokens or truncation.
    public func ids(_ text: String) -> [Int32] {
        var output: [Int32] = []
        let scalars = Array(text.unicodeScalars)
        var segmentStart = 0
        var i = 0
        while i < scalars.count {
            if let (length, id) = addedToken(at: i, in: scalars) {
                appendIds(of: scalars[segmentStart..<i], to: &output)
                output.append(id)
                i += length
                segmentStart = i
            } else {
                i += 1
            }
        }
        appendIds(of: scalars[segmentStart..<scalars.count], to: &output)
        return output
    }

    /// The WordPiece token strings of `text` (for display and tests).
    public func tokens(_ text: String) -> [String] { ids(text).map { vocabulary[Int($0)] } }

    /// `[CLS] text [SEP]` or `[CLS] text [SEP] pair [SEP]`, truncated to `maxLength` tokens.
    public func encode(_ text: String, pair: String? = nil, maxLength: Int = 512) -> TokenizedInput {
        encode(ids: ids(text), pair: pair.map { ids($0) }, maxLength: maxLength)
    }

    /// Adds the special tokens and token types to already tokenized ids, truncating as
    /// `tokenizers` does: a single sequence keeps its first `maxLength - 2` ids; a pair splits
    /// `maxLength - 3` longest-first (the shorter keeps its length if it fits in half the budget,
    /// otherwise both get half, the longer one the odd id).
    public func encode(ids first: [Int32], pair second: [Int32]?, maxLength: Int) -> TokenizedInput {
        guard let second else {
            let budget = max(0, maxLength - 2)
            let a = first.prefix(budget)
            let ids = [clsTokenId] + a + [sepTokenId]
            return TokenizedInput(inputIds: ids, tokenTypeIds: [Int32](repeating: 0, count: ids.count))
        }
        let (n1, n2) = PairTruncation.lengths(first.count, second.count, budget: max(0, maxLength - 3))
        let a = first.prefix(n1), b = second.prefix(n2)
        let ids = [clsTokenId] + a + [sepTokenId] + b + [sepTokenId]
        let types = [Int32](repeating: 0, count: a.count + 2) + [Int32](repeating: 1, count: b.count + 1)
        return TokenizedInput(inputIds: ids, tokenTypeIds: types)
    }

    private func addedToken(at i: Int, in scalars: [Unicode.Scalar]) -> (Int, Int32)? {
        for token in addedTokens where token.scalars.count <= scalars.count - i {
            var matches = true
            for (j, s) in token.scalars.enumerated() where scalars[i + j] != s {
                matches = false
                break
            }
            if matches { return (token.scalars.count, token.id) }
        }
        return nil
    }

    /// Normalizes, pre-tokenizes and WordPiece-encodes one stretch of text without added tokens.
    private func appendIds(of segment: ArraySlice<Unicode.Scalar>, to output: inout [Int32]) {
        guard !segment.isEmpty else { return }
        var word: [Unicode.Scalar] = []
        for scalar in normalize(segment) {
            if scalar.properties.isWhitespace {
                appendWord(&word, to: &output)
            } else if Self.isPunctuation(scalar) {
                appendWord(&word, to: &output)
                word.append(scalar)
                appendWord(&word, to: &output)
            } else {
                word.append(scalar)
            }
        }
        appendWord(&word, to: &output)
    }

    private func appendWord(_ word: inout [Unicode.Scalar], to output: inout [Int32]) {
        guard !word.isEmpty else { return }
        defer { word.removeAll(keepingCapacity: true) }
        if word.count > maxInputCharsPerWord {
            output.append(unknownTokenId)
            return
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(word.count * 2)
        for scalar in word { bytes.append(contentsOf: UTF8.encode(scalar)!) }
        let mark = output.count
        var start = 0
        while start < bytes.count {
            let trie = start == 0 ? wordStartTrie : continuationTrie
            guard let (end, id) = trie.longestMatch(bytes, from: start) else {
                output.removeSubrange(mark...)
                output.append(unknownTokenId)
                return
            }
            output.append(id)
            start = end
        }
    }

    // MARK: Normalization

    /// The `BertNormalizer` steps in Hugging Face's order: clean, CJK, strip accents, lowercase.
    func normalize(_ input: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(input.count + 8)
        var ascii = true
        for scalar in input {
            if normalizer.cleanText {
                if scalar.value == 0 || scalar.value == 0xFFFD || Self.isControl(scalar) { continue }
                if Self.isWhitespace(scalar) {
                    scalars.append(" ")
                    continue
                }
            }
            if normalizer.handleChineseChars, Self.isChineseChar(scalar) {
                scalars.append(" ")
                scalars.append(scalar)
                scalars.append(" ")
                ascii = false
                continue
            }
            if !scalar.isASCII { ascii = false }
            scalars.append(scalar)
        }
        if normalizer.stripAccents ?? normalizer.lowercase, !ascii {
            var string = String.UnicodeScalarView()
            string.append(contentsOf: scalars)
            let decomposed = String(string).decomposedStringWithCanonicalMapping
            scalars = decomposed.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
        }
        if normalizer.lowercase {
            var lowered: [Unicode.Scalar] = []
            lowered.reserveCapacity(scalars.count)
            for scalar in scalars {
                if scalar.isASCII {
                    let v = scalar.value
                    lowered.append((0x41...0x5A).contains(v) ? Unicode.Scalar(v + 0x20)! : scalar)
                } else {
                    lowered.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
                }
            }
            scalars = lowered
        }
        return scalars
    }

    /// Whitespace as `BertNormalizer` counts it: tab, newline, carriage return and Unicode White_Space.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\t", "\n", "\r", " ": return true
        default: return scalar.properties.isWhitespace
        }
    }

    /// Control characters as `BertNormalizer` counts them: general category C* except tab, newline
    /// and carriage return.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\t", "\n", "\r": return false
        default:
            if scalar.isASCII { return scalar.value < 0x20 || scalar.value == 0x7F }
            switch scalar.properties.generalCategory {
            case .control, .format, .unassigned, .privateUse, .surrogate: return true
            default: return false
            }
        }
    }

    /// The CJK blocks `BertNormalizer` splits into single-character words.
    static func isChineseChar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// Punctuation as `BertPreTokenizer` counts it: ASCII punctuation (which includes symbols such as
    /// `$`, `+`, `^`) and the Unicode punctuation categories.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 {
            return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v) || (0x7B...0x7E).contains(v)
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}
