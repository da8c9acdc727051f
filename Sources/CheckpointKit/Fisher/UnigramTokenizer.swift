import Foundation

/// The Unigram (SentencePiece) tokenizer of XLM-R, read from a `tokenizers` `tokenizer.json`.
///
/// As `tokenizers` does: added tokens are split out of the raw text first; each remaining piece is
/// normalized (``TokenizerNormalizer``), its spaces replaced by `▁` and a `▁` prepended (`Metaspace`),
/// cut before every `▁`, and each word segmented by Viterbi: the split into vocabulary pieces with the
/// highest total log-probability (on ties the first found, shorter pieces first), a character no piece
/// covers scored as the unknown token (lowest score - 10), consecutive unknowns fused into one.
public final class UnigramTokenizer: TextTokenizer, @unchecked Sendable {
    /// Score added to the lowest piece score for an unknown character (SentencePiece's kUnkPenalty).
    static let unknownPenalty = 10.0

    private let trie: ByteTrie
    private let scores: [Double]
    private let unknownId: Int32
    private let unknownScore: Double
    private let replacement: Unicode.Scalar
    private let prepend: Prepend
    private let splitWords: Bool
    private let normalizer: TokenizerNormalizer
    private let added: AddedTokens
    private let template: TokenizerTemplate

    /// `Metaspace`'s `prepend_scheme`.
    enum Prepend { case always, first, never }

    /// Loads `path`, a `tokenizer.json` whose model is Unigram with the `Metaspace` pre-tokenizer.
    public convenience init(tokenizerJSON path: String) throws(FisherError) {
        try self.init(TokenizerJSON(path: path))
    }

    init(_ file: TokenizerJSON) throws(FisherError) {
        let model = file.model
        guard file.modelType == "Unigram" else { throw file.invalid("model type is \(file.modelType), not Unigram") }
        if case .bool(true)? = model["byte_fallback"] { throw file.invalid("model.byte_fallback is not supported") }
        guard let vocab = model["vocab"]?.arrayValue else { throw file.invalid("model.vocab is not an array") }
        guard vocab.count <= WordPieceTokenizer.maxVocabularySize else {
            throw file.invalid("\(vocab.count) pieces, over the limit of \(WordPieceTokenizer.maxVocabularySize)")
        }
        guard let unk = model["unk_id"]?.intValue, (0..<vocab.count).contains(unk) else {
            throw file.invalid("model.unk_id is missing or not a piece")
        }
        var trie = ByteTrie(), scores: [Double] = [], pieces: [String: Int32] = [:]
        scores.reserveCapacity(vocab.count)
        for (id, entry) in vocab.enumerated() {
            guard let pair = entry.arrayValue, pair.count == 2, let piece = pair[0].stringValue,
                  piece.utf8.count <= WordPieceTokenizer.maxTokenBytes else {
                throw file.invalid("piece \(id) is not [text, score] with text of at most \(WordPieceTokenizer.maxTokenBytes) bytes")
            }
            let score: Double
            switch pair[1] {
            case let .number(d): score = d
            case let .integer(i): score = Double(i)
            default: throw file.invalid("piece \(id) has no numeric score")
            }
            guard score.isFinite else { throw file.invalid("piece \(id) has a score that is not finite") }
            scores.append(score)
            // A piece listed twice (XLM-R's conversion lists `<unk>` twice) takes its last id, as in `tokenizers`.
            pieces[piece] = Int32(id)
            trie.insert(Array(piece.utf8), id: Int32(id))
        }
        self.trie = trie
        self.scores = scores
        unknownId = Int32(unk)
        unknownScore = (scores.min() ?? 0) - Self.unknownPenalty
        (replacement, prepend, splitWords) = try Self.metaspace(file)
        normalizer = try TokenizerNormalizer(file)
        added = try file.addedTokens()
        template = try file.template(vocabulary: { pieces[$0] })
    }

    private static func metaspace(_ file: TokenizerJSON) throws(FisherError) -> (Unicode.Scalar, Prepend, Bool) {
        let steps = try file.steps("pre_tokenizer")
        guard steps.count == 1, let step = steps.first, step["type"]?.stringValue == "Metaspace" else {
            throw file.invalid("Unigram is supported with the Metaspace pre-tokenizer alone")
        }
        let text = step["replacement"]?.stringValue ?? "\u{2581}"
        guard text.unicodeScalars.count == 1, let replacement = text.unicodeScalars.first else {
            throw file.invalid("Metaspace replacement '\(text)' is not one character")
        }
        var prepend = Prepend.always
        switch step["prepend_scheme"]?.stringValue {
        case "always"?: prepend = .always
        case "first"?: prepend = .first
        case "never"?: prepend = .never
        case nil: prepend = step["add_prefix_space"] == .bool(false) ? .never : .always
        case let other?: throw file.invalid("Metaspace prepend_scheme '\(other)' is not supported")
        }
        return (replacement, prepend, step["split"] != .bool(false))
    }

    /// The ids of `text` without special tokens or truncation.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        for (index, piece) in added.split(text).enumerated() {
            switch piece {
            case let .token(id): ids.append(id)
            case let .text(scalars):
                var s = Array(normalizer.apply(String(String.UnicodeScalarView(scalars))).unicodeScalars)
                guard !s.isEmpty else { continue }
                for i in s.indices where s[i] == " " { s[i] = replacement }
                if s.first != replacement, prepend == .always || (prepend == .first && index == 0) { s.insert(replacement, at: 0) }
                for word in words(s) { segment(Array(String(String.UnicodeScalarView(s[word])).utf8), into: &ids) }
            }
        }
        return ids
    }

    public func encode(_ text: String, pair: String?, maxLength: Int) -> TokenizedInput {
        template.apply(encode(text), pair.map { encode($0) }, maxLength: maxLength)
    }

    /// Cuts before every replacement character (`MergedWithNext`).
    private func words(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        guard splitWords else { return [0..<s.count] }
        var out: [Range<Int>] = [], start = 0
        for i in s.indices where s[i] == replacement && i > start {
            out.append(start..<i)
            start = i
        }
        out.append(start..<s.count)
        return out
    }

    /// Viterbi over the UTF-8 bytes of one word.
    private func segment(_ bytes: [UInt8], into ids: inout [Int32]) {
        let n = bytes.count
        var best = [Double](repeating: 0, count: n + 1)
        var from = [Int](repeating: -1, count: n + 1)
        var token = [Int32](repeating: -1, count: n + 1)
        var start = 0
        while start < n {
            let base = best[start]
            let charLength = Self.utf8Length(bytes[start])
            var coversChar = false
            trie.forEachPrefix(bytes, from: start) { end, id in
                let candidate = base + scores[Int(id)]
                if from[end] == -1 || candidate > best[end] {
                    best[end] = candidate; from[end] = start; token[end] = id
                }
                if end - start == charLength { coversChar = true }
            }
            let end = min(n, start + charLength)
            if !coversChar {
                let candidate = base + unknownScore
                if from[end] == -1 || candidate > best[end] {
                    best[end] = candidate; from[end] = start; token[end] = unknownId
                }
            }
            start = end
            while start < n, from[start] == -1 { start += 1 }
        }
        var reversed: [Int32] = []
        var end = n
        while end > 0 {
            let id = token[end]
            if !(id == unknownId && reversed.last == unknownId) { reversed.append(id) }
            end = from[end]
        }
        ids += reversed.reversed()
    }

    /// Bytes of the UTF-8 sequence that `lead` starts (1 for a stray continuation byte).
    private static func utf8Length(_ lead: UInt8) -> Int {
        lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }
}
