/// Finds the leading path components whose removal makes the unpaired tensors of two checkpoints
/// meet, beyond the wrappers ``TrainingWrappers`` knows (a custom `LitModel.net.` or `student.`).
///
/// Linear in the tensor count: each name yields at most ``maxDepth`` + 1 suffixes (drop 0, 1, 2, ...
/// leading components, then any model prefix such as `bert.`), each looked up in a dictionary.
/// A suffix needs at least two components and counts only when at most two names of its side yield
/// it (so `LayerNorm.weight`, which every layer yields, says nothing). Every suffix both sides
/// share votes for the strippings (base prefix, fine-tuned prefix) that produce it, provided one
/// side yields it once; a stripping whose two prefixes end in the same component is the same
/// pairing as a shorter one and is not counted.
///
/// The stripping with the most votes wins if it pairs at least two tensors and at least half of
/// the smaller side's unpaired tensors; a tie for the most votes is reported, never guessed.
enum PrefixSearch {
    /// How many leading components may be removed from a name.
    static let maxDepth = 6

    enum Outcome {
        case none
        case found(PrefixStripping.Candidate)
        case ambiguous([PrefixStripping.Candidate])
    }

    /// Searches the unpaired names of both sides (TensorFlow names, with `/`, take no part).
    static func search(base: [String], finetuned: [String]) -> Outcome {
        let smaller = min(base.count, finetuned.count)
        guard smaller >= 2 else { return .none }
        let baseSuffixes = suffixes(base)
        let finetunedSuffixes = suffixes(finetuned)
        var votes: [Pair: Int] = [:]
        for (suffix, basePrefixes) in baseSuffixes {
            guard let finetunedPrefixes = finetunedSuffixes[suffix], let bases = basePrefixes.list,
                  let finetunes = finetunedPrefixes.list, bases.count == 1 || finetunes.count == 1 else { continue }
            for b in bases {
                for f in finetunes {
                    let pair = Pair(base: b, finetuned: f)
                    if pair.isShortest, keepsComponent(pair, suffix) { votes[pair, default: 0] += 1 }
                }
            }
        }
        guard let best = votes.values.max(), best >= 2, 2 * best >= smaller else { return .none }
        let winners = votes.filter { $0.value == best }.keys
            .map { PrefixStripping.Candidate(base: String($0.base), finetuned: String($0.finetuned), pairs: best) }
            .sorted { ($0.base, $0.finetuned) < ($1.base, $1.finetuned) }
        return winners.count == 1 ? .found(winners[0]) : .ambiguous(winners)
    }

    /// The prefixes whose removal gives one suffix: at most two are kept (a suffix two subtrees
    /// share, such as an encoder's and a decoder's, is how ambiguity shows); a suffix more names
    /// yield (`LayerNorm.weight`) says nothing and is dropped.
    struct Prefixes {
        var first: Substring
        var second: Substring?
        var tooMany = false

        var list: [Substring]? { tooMany ? nil : (second.map { [first, $0] } ?? [first]) }

        mutating func add(_ prefix: Substring) {
            if prefix == first || prefix == second { return }
            if second == nil { second = prefix } else { tooMany = true }
        }
    }

    /// A stripping as found: the removed prefixes of both sides, each ending in `.` or empty.
    struct Pair: Hashable {
        var base: Substring
        var finetuned: Substring

        /// False for (`x.a.`, `a.`): removing one component less from both sides pairs the same.
        var isShortest: Bool {
            if base.isEmpty && finetuned.isEmpty { return false }
            guard !base.isEmpty, !finetuned.isEmpty else { return true }
            return PrefixSearch.lastComponent(base) != PrefixSearch.lastComponent(finetuned)
        }
    }

    /// Suffix -> the prefixes removed to get it, over all `names` and depths (each name counted once
    /// per suffix).
    static func suffixes(_ names: [String]) -> [Substring: Prefixes] {
        var result: [Substring: Prefixes] = [:]
        result.reserveCapacity(names.count * 4)
        for name in names where !name.utf8.contains(UInt8(ascii: "/")) {
            var own: [Substring] = []
            var start = name.startIndex
            for _ in 0...maxDepth {
                let suffix = withoutModelPrefix(name[start...])
                if suffix.utf8.contains(UInt8(ascii: ".")), !own.contains(suffix) {
                    own.append(suffix)
                    let prefix = name[..<start]
                    if result[suffix] == nil { result[suffix] = Prefixes(first: prefix) } else { result[suffix]!.add(prefix) }
                }
                guard let dot = name[start...].utf8.firstIndex(of: UInt8(ascii: ".")) else { break }
                start = name.index(after: dot)
            }
        }
        return result
    }

    /// The first component of every model prefix (`bert`, `base_model`, ...): a suffix whose first
    /// component is none of these has no model prefix to remove, which spares most suffixes the
    /// prefix comparisons.
    static let modelPrefixHeads: Set<Substring> = Set(ParameterNames.modelPrefixes.map { $0.split(separator: ".")[0] })

    /// `name` without the model prefixes a task model adds (``ParameterNames/modelPrefixes``).
    static func withoutModelPrefix(_ name: Substring) -> Substring {
        var rest = name
        var stripping = true
        while stripping {
            stripping = false
            guard let dot = rest.utf8.firstIndex(of: UInt8(ascii: ".")), modelPrefixHeads.contains(rest[..<dot]) else { break }
            for prefix in ParameterNames.modelPrefixes where rest.hasPrefix(prefix) && rest.utf8.count > prefix.utf8.count {
                rest = rest.dropFirst(prefix.count)
                stripping = true
            }
        }
        return rest
    }

    /// False when the stripping would turn one known module into another: a RoBERTa base's
    /// `pooler.dense.weight` and a classifier's `classifier.dense.weight` share `dense.weight`, but a
    /// wrapper never changes what a tensor is, so such a vote pairs a pooler with a head and is
    /// dropped. Computed only for suffixes both sides share.
    static func keepsComponent(_ pair: Pair, _ suffix: Substring) -> Bool {
        let base = ParameterNames.role(of: String(pair.base + suffix)).component
        let finetuned = ParameterNames.role(of: String(pair.finetuned + suffix)).component
        return base == finetuned
    }

    /// `b` for the prefix `a.b.`.
    static func lastComponent(_ prefix: Substring) -> Substring {
        let body = prefix.dropLast()
        guard let dot = body.lastIndex(of: ".") else { return body }
        return body[body.index(after: dot)...]
    }
}
