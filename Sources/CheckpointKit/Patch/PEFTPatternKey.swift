/// Which `rank_pattern` / `alpha_pattern` key applies to a module, as peft's `get_pattern_key`
/// (`peft/utils/other.py`) decides: the first key, in the config's order, for which
/// `re.match(rf"(.*\.)?({key})$", module)` matches, that is, the key (a regular expression) matches
/// the whole module name or a tail of it that starts after a dot.
enum PEFTPatternKey {
    /// The first entry of `entries` whose key matches `module`, or nil.
    static func firstMatch(_ entries: [PEFTAdapterSettings.PatternEntry], module: String,
                           path: String) throws(PEFTAdapterError) -> PEFTAdapterSettings.PatternEntry? {
        for entry in entries {
            if try matches(entry.key, module: module, path: path) { return entry }
        }
        return nil
    }

    /// Whether `key` matches `module` the way peft's regular expression does.
    static func matches(_ key: String, module: String, path: String) throws(PEFTAdapterError) -> Bool {
        if key.utf8.allSatisfy(isPlain) { return plainMatch(Array(key.utf8), Array(module.utf8)) }
        guard isBounded(key) else {
            throw .invalidConfig(path: path, reason: "pattern key '\(key)' uses groups, counted or nested repetition or back-references; ckpt refuses them (a backtracking match could run for hours)")
        }
        let regex: Regex<AnyRegexOutput>
        do {
            regex = try Regex("(.*\\.)?(" + key + ")")
        } catch {
            throw .invalidConfig(path: path, reason: "pattern key '\(key)' is not a regular expression ckpt reads")
        }
        return (try? regex.wholeMatch(in: module)) != nil
    }

    /// Whether a backtracking match of `key` stays cheap: no groups, no `{m,n}`, no
    /// back-references, and at most two of `*`, `+`, `?` (the match then costs at most about the
    /// cube of the module name's length; `(.+.+)+Z` would take days on a 31-character name).
    static func isBounded(_ key: String) -> Bool {
        var quantifiers = 0, escaped = false
        for byte in key.utf8 {
            if escaped {
                if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { return false }
                escaped = false
                continue
            }
            switch byte {
            case UInt8(ascii: "\\"): escaped = true
            case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "}"): return false
            case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"): quantifiers += 1
            default: break
            }
        }
        return quantifiers <= 2
    }

    /// Letters, digits, `_`, `-` and `.`: the keys people write (module names and their tails),
    /// matched without a regular-expression engine; `.` matches any character, as in the regex.
    static func isPlain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."): return true
        default: return false
        }
    }

    /// `(.*\.)?(key)$` for a plain key: the module's tail of the key's length, starting at the
    /// beginning or right after a literal dot, equals the key where the key has no `.`.
    static func plainMatch(_ key: [UInt8], _ module: [UInt8]) -> Bool {
        let start = module.count - key.count
        guard start >= 0, start == 0 || module[start - 1] == UInt8(ascii: ".") else { return false }
        for i in 0..<key.count where key[i] != UInt8(ascii: ".") && key[i] != module[start + i] { return false }
        return key.allSatisfy { $0 != 10 } && !module[start...].contains(10)
    }
}
