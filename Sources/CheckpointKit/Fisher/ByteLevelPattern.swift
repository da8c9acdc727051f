/// How byte-level BPE cuts text into words before merging, and GPT-2's byte alphabet.
public enum ByteLevelPattern: Sendable, Equatable {
    /// No cut: the whole text is one word (`ByteLevel` with `use_regex` false).
    case none
    /// GPT-2's `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, the
    /// default of `tokenizers`' `ByteLevel` pre-tokenizer, matched by hand on Unicode scalars
    /// (`\s` is White_Space, `\p{L}`/`\p{N}` the letter/number categories, as Oniguruma has them).
    case gpt2

    /// GPT-2's pattern as `tokenizer.json` files spell it.
    public static let gpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

    /// The pattern a `Split` pre-tokenizer's regex spells, if it is one implemented here.
    public init?(regex: String) {
        guard regex == Self.gpt2Regex else { return nil }
        self = .gpt2
    }

    /// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the other 68 bytes
    /// for U+0100 onwards in byte order.
    public static let byteAlphabet: [Character] = {
        var table = [Character](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Character(Unicode.Scalar(UInt8(b)))
            } else {
                table[b] = Character(Unicode.Scalar(next)!)
                next += 1
            }
        }
        return table
    }()

    /// The words of `s`, as ranges of scalar indices covering it in order.
    public func words(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        guard !s.isEmpty else { return [] }
        guard self == .gpt2 else { return [0..<s.count] }
        var out: [Range<Int>] = []
        var i = 0
        while i < s.count {
            let end = Self.gpt2Match(s, at: i)
            out.append(i..<end)
            i = end
        }
        return out
    }

    private enum Class { case letter, number, space, other }

    private static func classify(_ c: Unicode.Scalar) -> Class {
        let p = c.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// End of GPT-2's match starting at `i` (alternatives tried in the pattern's order).
    private static func gpt2Match(_ s: [Unicode.Scalar], at i: Int) -> Int {
        let n = s.count
        if s[i] == "'", i + 1 < n {
            if "stmd".unicodeScalars.contains(s[i + 1]) { return i + 2 }
            if i + 2 < n, ["re", "ve", "ll"].contains(String(String.UnicodeScalarView([s[i + 1], s[i + 2]]))) { return i + 3 }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        let start = s[i] == " " && i + 1 < n ? i + 1 : i
        let cls = classify(s[start])
        if cls != .space {
            var j = start + 1
            while j < n, classify(s[j]) == cls { j += 1 }
            return j
        }
        // `\s+(?!\S)`, then `\s+`
        var j = i + 1
        while j < n, classify(s[j]) == .space { j += 1 }
        if j == n || j - i == 1 { return j }
        return j - 1
    }
}
