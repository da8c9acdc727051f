import Foundation

/// A `tokenizers` `tokenizer.json`, parsed once and read by the tokenizer its model type names.
/// The file is untrusted: its size is checked before it is read (``WordPieceTokenizer/maxFileBytes``),
/// its JSON parsed by the strict ``JSONValue`` parser, and every count checked before allocation.
struct TokenizerJSON {
    let path: String
    let root: JSONValue
    let model: JSONValue

    var modelType: String { model["type"]?.stringValue ?? "WordPiece" }

    init(path: String) throws(FisherError) {
        self.path = path
        let data = try WordPieceTokenizer.readLimited(path)
        do { root = try JSONValue.parse(data) } catch {
            throw .invalidTokenizer(path: path, reason: "JSON: \(error)")
        }
        guard let model = root["model"], model.objectValue != nil else {
            throw .invalidTokenizer(path: path, reason: "no 'model' object")
        }
        self.model = model
    }

    func invalid(_ reason: String) -> FisherError { .invalidTokenizer(path: path, reason: reason) }

    /// A component (`normalizer`, `pre_tokenizer`, `post_processor`) split into its steps: the
    /// members of a `Sequence`, the component itself, or none when null.
    func steps(_ key: String) throws(FisherError) -> [JSONValue] {
        guard let value = root[key], value != .null else { return [] }
        guard let type = value["type"]?.stringValue else { throw invalid("\(key) has no type") }
        guard type == "Sequence" else { return [value] }
        let listKey = key == "normalizer" ? "normalizers" : key == "pre_tokenizer" ? "pretokenizers" : "processors"
        guard let list = value[listKey]?.arrayValue else { throw invalid("\(key) Sequence has no \(listKey)") }
        return list
    }

    /// `added_tokens`: matched in the raw text before anything else (those with `normalized` true
    /// are refused: they would be matched after normalization).
    func addedTokens() throws(FisherError) -> AddedTokens {
        var tokens: [AddedTokens.Token] = []
        for token in root["added_tokens"]?.arrayValue ?? [] {
            guard let content = token["content"]?.stringValue, let id = token["id"]?.intValue,
                  id >= 0, id < WordPieceTokenizer.maxVocabularySize, !content.isEmpty,
                  content.utf8.count <= WordPieceTokenizer.maxTokenBytes else {
                throw invalid("an added token has no content or id, or one out of range")
            }
            if case .bool(true)? = token["single_word"] { throw invalid("added token '\(content)' has single_word, which is not supported") }
            if case .bool(true)? = token["normalized"], case .bool(false)? = token["special"] {
                throw invalid("added token '\(content)' is matched after normalization, which is not supported")
            }
            tokens.append(.init(scalars: Array(content.unicodeScalars), id: Int32(id),
                                lstrip: token["lstrip"] == .bool(true), rstrip: token["rstrip"] == .bool(true)))
        }
        return AddedTokens(tokens: tokens)
    }

    /// The special tokens the post-processor puts around one sequence and around a pair.
    func template(vocabulary: (String) -> Int32?) throws(FisherError) -> TokenizerTemplate {
        var result = TokenizerTemplate(single: [.a], pair: [.a, .b])
        for step in try steps("post_processor") {
            switch step["type"]?.stringValue {
            case "ByteLevel"?: continue
            case "RobertaProcessing"?, "BertProcessing"?:
                func special(_ key: String) throws(FisherError) -> Int32 {
                    guard let pair = step[key]?.arrayValue, pair.count == 2, let id = pair[1].intValue,
                          id >= 0, id < WordPieceTokenizer.maxVocabularySize else { throw invalid("post_processor.\(key) is not [token, id]") }
                    return Int32(id)
                }
                let cls = try special("cls"), sep = try special("sep")
                let roberta = step["type"]?.stringValue == "RobertaProcessing"
                result = TokenizerTemplate(single: [.special(cls), .a, .special(sep)],
                                           pair: [.special(cls), .a, .special(sep)] + (roberta ? [.special(sep)] : []) + [.b, .special(sep)])
            case "TemplateProcessing"?:
                func pieces(_ key: String) throws(FisherError) -> [TokenizerTemplate.Piece] {
                    var out: [TokenizerTemplate.Piece] = []
                    for piece in step[key]?.arrayValue ?? [] {
                        if let sequence = piece["Sequence"]?["id"]?.stringValue {
                            out.append(sequence == "A" ? .a : .b)
                        } else if let name = piece["SpecialToken"]?["id"]?.stringValue {
                            guard let ids = step["special_tokens"]?[name]?["ids"]?.arrayValue, ids.count == 1,
                                  let id = ids[0].intValue ?? vocabulary(name).map(Int.init), id >= 0,
                                  id < WordPieceTokenizer.maxVocabularySize else {
                                throw invalid("post_processor special token '\(name)' needs exactly one id")
                            }
                            out.append(.special(Int32(id)))
                        } else {
                            throw invalid("post_processor.\(key) has a piece that is neither Sequence nor SpecialToken")
                        }
                    }
                    return out
                }
                result = TokenizerTemplate(single: try pieces("single"), pair: try pieces("pair"))
            default:
                throw invalid("post_processor \(step["type"]?.stringValue ?? "?") is not supported")
            }
        }
        return result
    }
}

/// Where the post-processor puts special tokens around the sequences (`[CLS] A [SEP]`,
/// `<s> A </s></s> B </s>`, none for GPT-2).
struct TokenizerTemplate: Sendable {
    enum Piece: Sendable, Equatable {
        case special(Int32)
        case a, b
    }
    var single: [Piece]
    var pair: [Piece]

    /// The ids of `first` (and `second`) placed in the template, truncated longest-first so that the
    /// whole fits in `maxLength`. Token types are 0: RoBERTa and XLM-R have one token type.
    func apply(_ first: [Int32], _ second: [Int32]?, maxLength: Int) -> TokenizedInput {
        let pieces = second == nil ? single : pair
        let specials = pieces.filter { if case .special = $0 { return true }; return false }.count
        let budget = max(0, maxLength - specials)
        let (n1, n2) = second.map { PairTruncation.lengths(first.count, $0.count, budget: budget) } ?? (min(first.count, budget), 0)
        var ids: [Int32] = []
        ids.reserveCapacity(n1 + n2 + specials)
        for piece in pieces {
            switch piece {
            case let .special(id): ids.append(id)
            case .a: ids += first.prefix(n1)
            case .b: ids += (second ?? []).prefix(n2)
            }
        }
        return TokenizedInput(inputIds: ids, tokenTypeIds: [Int32](repeating: 0, count: ids.count))
    }
}

/// The added (special) tokens of a `tokenizer.json`, split out of the raw text before normalization,
/// leftmost and longest first, as `tokenizers`' `AddedVocabulary` does; `lstrip`/`rstrip` tokens
/// also take the whitespace on their left/right.
struct AddedTokens: Sendable {
    struct Token: Sendable {
        var scalars: [Unicode.Scalar]
        var id: Int32
        var lstrip: Bool
        var rstrip: Bool
    }
    let tokens: [Token]
    /// The tokens by their first scalar, so that text is scanned in time linear in its length.
    private let byFirstScalar: [Unicode.Scalar: [Token]]

    init(tokens: [Token]) {
        self.tokens = tokens
        byFirstScalar = Dictionary(grouping: tokens.filter { !$0.scalars.isEmpty }, by: { $0.scalars[0] })
    }

    /// A piece of the text: plain text to tokenize, or an added token's id.
    enum Segment: Equatable {
        case text([Unicode.Scalar])
        case token(Int32)
    }

    func split(_ text: String) -> [Segment] {
        let scalars = Array(text.unicodeScalars)
        guard !tokens.isEmpty else { return [.text(scalars)] }
        var out: [Segment] = []
        var start = 0, i = 0
        while i < scalars.count {
            guard let token = longestMatch(scalars, at: i) else { i += 1; continue }
            var left = i, right = i + token.scalars.count
            if token.lstrip { while left > start, scalars[left - 1].properties.isWhitespace { left -= 1 } }
            if token.rstrip { while right < scalars.count, scalars[right].properties.isWhitespace { right += 1 } }
            if left > start { out.append(.text(Array(scalars[start..<left]))) }
            out.append(.token(token.id))
            start = right
            i = right
        }
        if start < scalars.count { out.append(.text(Array(scalars[start...]))) }
        return out
    }

    private func longestMatch(_ scalars: [Unicode.Scalar], at i: Int) -> Token? {
        var best: Token?
        for token in byFirstScalar[scalars[i]] ?? [] where token.scalars.count <= scalars.count - i && token.scalars.count > (best?.scalars.count ?? 0) {
            if scalars[i..<(i + token.scalars.count)].elementsEqual(token.scalars) { best = token }
        }
        return best
    }
}
