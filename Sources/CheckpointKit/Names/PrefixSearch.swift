/// Finds the leading path components whose removal makes the unpaired tensors of two checkpoints
/// meet, beyond the wrappers ``TrainingWrappers`` knows (a custom `LitModel.net.` or `student.`).
///
/// Linear in the tensor count: each name yields at most ``maxDepth`` + 1 suffixes (drop 0, 1, 2, ...
/// leading components, then any model prefix such as `bert.`), each looked up in a dictionary.
/// A suffix counts only when one tensor of its side yields it (so `LayerNorm.weight`, which every
/// layer yields, says nothing) and it has at least two components. Every suffix both sides share
/// votes for the stripping (base prefix, fine-tuned prefix) that produces it; a stripping whose two
/// prefixes end in the same component is the same pairing as a shorter one and is not counted.
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
        let baseSuffixes = uniqueSuffixes(base)
        let finetunedSuffixes = uniqueSuffixes(finetuned)
        var votes: [Pair: Int] = [:]
        for (suffix, basePrefix) in baseSuffixes {
            guard let finetunedPrefix = finetunedSuffixes[suffix] else { continue }
            let pair = Pair(base: basePrefix, finetuned: finetunedPrefix)
            guard pair.isShortest else { continue }
            votes[pair, default: 0] += 1
        }
        guard let best = votes.values.max(), best >= 2, 2 * best >= smaller else { return .none }
        let winners = votes.filter { $0.value == best }.keys
            .map { PrefixStripping.Candidate(base: String($0.base), finetuned: String($0.finetuned), pairs: best) }
            .sorted { ($0.base, $0.finetuned) < ($1.base, $1.finetuned) }
        return winners.count == 1 ? .found(winners[0]) : .ambiguous(winners)
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

    /// Suffix -> the prefix removed to get it, for suffixes exactly one name of `names` yields.
    static func uniqueSuffixes(_ names: [String]) -> [Substring: Substring] {
        var result: [Substring: Substring] = [:]
        var repeated = Set<Substring>()
        for name in names where !name.utf8.contains(UInt8(ascii: "/")) {
            var own: [Substring] = []
            var start = name.startIndex
            for _ in 0...maxDepth {
                let suffix = withoutModelPrefix(name[start...])
                if suffix.utf8.contains(UInt8(ascii: ".")), !own.contains(suffix) {
                    own.append(suffix)
                    if repeated.contains(suffix) {
                    } else if result[suffix] != nil {
                        result[suffix] = nil
                        repeated.insert(suffix)
                    } else {
                        result[suffix] = name[..<start]
                    }
                }
                guard let dot = name[start...].utf8.firstIndex(of: UInt8(ascii: ".")) else { break }
                start = name.index(after: dot)
            }
        }
        return result
    }

    /// `name` without the model prefixes a task model adds (``ParameterNames/modelPrefixes``).
    static func withoutModelPrefix(_ name: Substring) -> Substring {
        var rest = name
        var stripping = true
        while stripping {
            stripping = false
            for prefix in ParameterNames.modelPrefixes where rest.hasPrefix(prefix) && rest.utf8.count > prefix.utf8.count {
                rest = rest.dropFirst(prefix.count)
                stripping = true
            }
        }
        return rest
    }

    /// `b` for the prefix `a.b.`.
    static func lastComponent(_ prefix: Substring) -> Substring {
        let body = prefix.dropLast()
        guard let dot = body.lastIndex(of: ".") else { return body }
        return body[body.index(after: dot)...]
    }
}
