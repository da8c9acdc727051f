/// How byte-level BPE cuts text into words before merging, and GPT-2's byte alphabet.
public enum ByteLevelPattern: Sendable, Equatable {
    /// No cut: the whole text is one word (`ByteLevel` with `use_regex` false).
    case none
    /// GPT-2's `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, the
    /// default of `tokenizers`' `ByteLevel` pre-tokenizer, matched by hand on Unicode scalars
    /// (`\s` is White_Space, `\p{L}`/`\p{N}` the letter/number categories, as Oniguruma has them).
    case gpt2
    /// Llama 3's (tiktoken's cl100k) pattern, ``llama3Regex``: contractions in any case, a letter run
    /// with one leading non-letter, numbers in runs of at most three digits, newlines kept apart.
    case llama3
    /// Qwen2's pattern, ``qwen2Regex``: Llama 3's with every digit its own word.
    case qwen2

    /// GPT-2's pattern as `tokenizer.json` files spell it.
    public static let gpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
    /// Llama 3's `Split` pattern as its `tokenizer.json` spells it.
    public static let llama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
    /// Qwen2's `Split` pattern as its `tokenizer.json` spells it.
    public static let qwen2Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

    /// The pattern a `Split` pre-tokenizer's regex spells, if it is one implemented here.
    public init?(regex: String) {
        switch regex {
        case Self.gpt2Regex: self = .gpt2
        case Self.llama3Regex: self = .llama3
        case Self.qwen2Regex: self = .qwen2
        default: return nil
        }
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
        let match: ([Unicode.Scalar], Int) -> Int
        switch self {
        case .none: return [0..<s.count]
        case .gpt2: match = Self.gpt2Match
        case .llama3: match = { Self.splitMatch($0, at: $1, maxDigits: 3) }
        case .qwen2: match = { Self.splitMatch($0, at: $1, maxDigits: 1) }
        }
        var out: [Range<Int>] = []
        var i = 0
        while i < s.count {
            let end = match(s, i)
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

    /// End of the Llama 3 / Qwen2 match starting at `i` (alternatives tried in the pattern's order).
    private static func splitMatch(_ s: [Unicode.Scalar], at i: Int, maxDigits: Int) -> Int {
        let n = s.count
        if let end = contraction(s, at: i) { return end }
        let cls = classify(s[i])
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        let lead = cls == .letter ? i : (cls != .number && !isNewline(s[i]) && i + 1 < n && classify(s[i + 1]) == .letter ? i + 1 : nil)
        if let lead { return run(s, from: lead + 1, of: .letter) }
        // `\p{N}{1,3}` (Llama 3) or `\p{N}` (Qwen2)
        if cls == .number { return min(run(s, from: i + 1, of: .number), i + maxDigits) }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let other = cls == .other ? i : (s[i] == " " && i + 1 < n && classify(s[i + 1]) == .other ? i + 1 : nil)
        if let other {
            var j = run(s, from: other + 1, of: .other)
            while j < n, isNewline(s[j]) { j += 1 }
            return j
        }
        // `\s*[\r\n]+`: to just after the last newline of the whitespace run
        let j = run(s, from: i + 1, of: .space)
        if let last = (i..<j).last(where: { isNewline(s[$0]) }) { return last + 1 }
        // `\s+(?!\S)`, then `\s+`
        return j == n || j - i == 1 ? j : j - 1
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)`: case folded as Oniguruma folds (`ſ` is an `s`).
    private static func contraction(_ s: [Unicode.Scalar], at i: Int) -> Int? {
        guard s[i] == "'", i + 1 < s.count else { return nil }
        func folded(_ k: Int) -> Unicode.Scalar? {
            guard k < s.count else { return nil }
            return s[k] == "\u{17F}" ? "s" : (s[k].isASCII ? Unicode.Scalar(UInt8(ascii: s[k]) | 0x20) : nil)
        }
        guard let a = folded(i + 1) else { return nil }
        if "stmd".unicodeScalars.contains(a) { return i + 2 }
        guard let b = folded(i + 2) else { return nil }
        return [("r", "e"), ("v", "e"), ("l", "l")].contains(where: { $0.0 == a && $0.1 == b }) ? i + 3 : nil
    }

    private static func isNewline(_ c: Unicode.Scalar) -> Bool { c == "\n" || c == "\r" }

    /// End of the run of `cls` scalars starting at `j`.
    private static func run(_ s: [Unicode.Scalar], from j: Int, of cls: Class) -> Int {
        var j = j
        while j < s.count, classify(s[j]) == cls { j += 1 }
        return j
    }
}
