import Foundation

/// The `normalizer` of a `tokenizer.json` for the BPE and Unigram tokenizers: a chain of Unicode
/// normalization forms, lowercasing, literal replacements and collapsing runs of a character.
/// Anything else (regular expressions other than
/// `" {2,}"`) is refused at load: a tokenizer that guesses would give wrong ids silently.
/// SentencePiece's precompiled character map (XLM-R) is ``PrecompiledCharsmap``.
struct TokenizerNormalizer: Sendable {
    enum Step: Sendable, Equatable {
        case nfc, nfd, nfkc, nfkd, lowercase
        /// A literal replacement.
        case replace(String, String)
        /// Runs of two or more of this character become `with` (the regex `" {2,}"`).
        case collapse(Character, with: String)
        /// SentencePiece's rules (XLM-R's `nmt_nfkc`).
        case precompiled(PrecompiledCharsmap)
        /// Removes White_Space characters at the start and/or end.
        case strip(left: Bool, right: Bool)
    }
    let steps: [Step]

    init(steps: [Step] = []) { self.steps = steps }

    init(_ file: TokenizerJSON) throws(FisherError) {
        var steps: [Step] = []
        for step in try file.steps("normalizer") {
            let type = step["type"]?.stringValue ?? "?"
            switch type {
            case "NFC": steps.append(.nfc)
            case "NFD": steps.append(.nfd)
            case "NFKC": steps.append(.nfkc)
            case "NFKD": steps.append(.nfkd)
            case "Lowercase": steps.append(.lowercase)
            case "Strip": steps.append(.strip(left: step["strip_left"] == .bool(true), right: step["strip_right"] == .bool(true)))
            case "Precompiled":
                guard let blob = step["precompiled_charsmap"]?.stringValue, let map = PrecompiledCharsmap(base64: blob) else {
                    throw file.invalid("Precompiled normalizer: precompiled_charsmap is not a valid SentencePiece character map")
                }
                steps.append(.precompiled(map))
            case "Replace":
                guard let content = step["content"]?.stringValue else { throw file.invalid("Replace normalizer has no content") }
                if let literal = step["pattern"]?["String"]?.stringValue, !literal.isEmpty {
                    steps.append(.replace(literal, content))
                } else if let regex = step["pattern"]?["Regex"]?.stringValue, let c = Self.repeatedCharacter(regex) {
                    steps.append(.collapse(c, with: content))
                } else {
                    throw file.invalid("Replace normalizer pattern is not supported (a literal string or \" {2,}\")")
                }
            default:
                throw file.invalid("normalizer \(type) is not supported (NFC, NFD, NFKC, NFKD, Lowercase, Strip, Replace, Precompiled are)")
            }
        }
        self.steps = steps
    }

    /// The character of a regex `"c{2,}"` (one non-special character repeated twice or more).
    private static func repeatedCharacter(_ regex: String) -> Character? {
        guard regex.hasSuffix("{2,}"), regex.count == 5, let c = regex.first, c.unicodeScalars.count == 1, !"\\^$.|?*+()[]{}".contains(c) else { return nil }
        return c
    }

    func apply(_ text: String) -> String {
        var s = text
        for step in steps {
            switch step {
            case .nfc: s = s.precomposedStringWithCanonicalMapping
            case .nfd: s = s.decomposedStringWithCanonicalMapping
            case .nfkc: s = s.precomposedStringWithCompatibilityMapping
            case .nfkd: s = s.decomposedStringWithCompatibilityMapping
            case .lowercase: s = s.lowercased()
            case let .precompiled(map): s = map.apply(s)
            case let .strip(left, right):
                var scalars = Substring(s).unicodeScalars
                while left, let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
                while right, let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
                s = String(scalars)
            case let .replace(pattern, content): s = s.replacingOccurrences(of: pattern, with: content, options: .literal)
            case let .collapse(c, content):
                var out = String.UnicodeScalarView()
                let scalars = Array(s.unicodeScalars), target = c.unicodeScalars.first!
                var i = 0
                while i < scalars.count {
                    var j = i
                    while j < scalars.count, scalars[j] == target { j += 1 }
                    if j - i >= 2 { out.append(contentsOf: content.unicodeScalars); i = j; continue }
                    out.append(scalars[i])
                    i += 1
                }
                s = String(out)
            }
        }
        return s
    }
}
