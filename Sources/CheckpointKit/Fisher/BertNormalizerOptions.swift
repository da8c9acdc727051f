/// The settings of Hugging Face's `BertNormalizer` (tokenizers `normalizers/bert.rs`).
public struct BertNormalizerOptions: Sendable, Equatable {
    /// Drop control characters, NUL and U+FFFD; turn every whitespace character into a space.
    public var cleanText: Bool
    /// Put spaces around CJK ideographs so that each becomes a word.
    public var handleChineseChars: Bool
    /// NFD-decompose and drop nonspacing marks; `nil` follows ``lowercase`` (as Hugging Face does).
    public var stripAccents: Bool?
    public var lowercase: Bool

    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents
        self.lowercase = lowercase
    }
}
