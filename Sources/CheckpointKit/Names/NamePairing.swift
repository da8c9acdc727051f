/// The stages of ``CheckpointAlignment``'s matching, over tensor indices: explicit renames, equal
/// names, equal canonical names once training wrappers are removed, then the prefix search on
/// what is left. Each stage is a dictionary pass, so pairing is linear in the tensor count.
struct NamePairing {
    let base: [TensorInfo]
    let finetuned: [TensorInfo]
    /// The fine-tuned index paired with each base index.
    var matchOfBase: [Int?]
    var finetunedTaken: [Bool]
    /// Names with wrappers and found prefixes removed, by index; nil = the stored name. Roles are
    /// read from these, so a wrapped checkpoint's parameters land in the same components.
    var baseStripped: [String?]
    var finetunedStripped: [String?]
    /// What was removed from each name (wrappers, then a found prefix), by index.
    var baseRemoved: [String]
    var finetunedRemoved: [String]
    var ambiguous: [PrefixStripping.Candidate] = []
    /// The stripping the prefix search found and applied, if any.
    var found: PrefixStripping.Candidate?

    init(base: [TensorInfo], finetuned: [TensorInfo]) {
        self.base = base
        self.finetuned = finetuned
        matchOfBase = Array(repeating: nil, count: base.count)
        finetunedTaken = Array(repeating: false, count: finetuned.count)
        baseStripped = Array(repeating: nil, count: base.count)
        finetunedStripped = Array(repeating: nil, count: finetuned.count)
        baseRemoved = Array(repeating: "", count: base.count)
        finetunedRemoved = Array(repeating: "", count: finetuned.count)
    }

    mutating func link(base b: Int, finetuned f: Int) {
        matchOfBase[b] = f
        finetunedTaken[f] = true
    }

    var unpairedBase: [Int] { base.indices.filter { matchOfBase[$0] == nil } }
    var unpairedFinetuned: [Int] { finetuned.indices.filter { !finetunedTaken[$0] } }

    /// Stage 1 and 2: the name map (fine-tuned name -> base name), then equal names. When each
    /// side's names are distinct, equal names at equal positions (a fine-tune saved by the code
    /// that saved its base) pair first without hashing: with distinct names that is the pairing
    /// the name index gives, which then only sees what is left.
    mutating func pairByName(renames: [String: String], namesAreDistinct: Bool = false) {
        if renames.isEmpty && namesAreDistinct {
            for index in 0..<min(base.count, finetuned.count) where base[index].name == finetuned[index].name {
                link(base: index, finetuned: index)
            }
            if !finetunedTaken.contains(false) { return }
        }
        var baseIndex: [String: Int] = [:]
        baseIndex.reserveCapacity(base.count)
        // Last to first, so that a repeated name keeps its first index (one hash a name, not two).
        for b in base.indices.reversed() { baseIndex[base[b].name] = b }
        if !renames.isEmpty {
            for (f, tensor) in finetuned.enumerated() {
                if let target = renames[tensor.name], let b = baseIndex[target], matchOfBase[b] == nil { link(base: b, finetuned: f) }
            }
        }
        for f in finetuned.indices where !finetunedTaken[f] {
            if let b = baseIndex[finetuned[f].name], matchOfBase[b] == nil { link(base: b, finetuned: f) }
        }
    }

    /// Stage 3: canonical names (framework, legacy spellings, model prefixes) after removing
    /// training wrappers, for the tensors still unpaired.
    mutating func pairByCanonicalName() {
        let baseLeft = unpairedBase, finetunedLeft = unpairedFinetuned
        guard !baseLeft.isEmpty, !finetunedLeft.isEmpty else { return }
        var baseByKey: [String: Int] = [:]
        for b in baseLeft {
            if let (name, removed) = TrainingWrappers.strip(base[b].name) { baseStripped[b] = name; baseRemoved[b] = removed }
            let key = ParameterNames.canonicalize(baseStripped[b] ?? base[b].name).name
            if baseByKey[key] == nil { baseByKey[key] = b }
        }
        for f in finetunedLeft {
            if let (name, removed) = TrainingWrappers.strip(finetuned[f].name) { finetunedStripped[f] = name; finetunedRemoved[f] = removed }
            let key = ParameterNames.canonicalize(finetunedStripped[f] ?? finetuned[f].name).name
            if let b = baseByKey[key], matchOfBase[b] == nil { link(base: b, finetuned: f) }
        }
    }

    /// Stage 4: the prefix search over the still unpaired tensors' (wrapper-stripped) names.
    mutating func pairBySearchedPrefix() {
        let baseLeft = unpairedBase, finetunedLeft = unpairedFinetuned
        guard baseLeft.count >= 2, finetunedLeft.count >= 2 else { return }
        let outcome = PrefixSearch.search(base: baseLeft.map { baseStripped[$0] ?? base[$0].name },
                                          finetuned: finetunedLeft.map { finetunedStripped[$0] ?? finetuned[$0].name })
        switch outcome {
        case .none: return
        case let .ambiguous(candidates): ambiguous = candidates
        case let .found(candidate):
            found = candidate
            pair(baseLeft, finetunedLeft, stripping: candidate)
        }
    }

    /// Pairs by canonical name after removing the found prefixes.
    mutating func pair(_ baseLeft: [Int], _ finetunedLeft: [Int], stripping: PrefixStripping.Candidate) {
        var baseByKey: [String: (index: Int, name: String)] = [:]
        for b in baseLeft {
            let name = baseStripped[b] ?? base[b].name
            guard name.hasPrefix(stripping.base) else { continue }
            let rest = String(name.dropFirst(stripping.base.count))
            let key = ParameterNames.canonicalize(rest).name
            if baseByKey[key] == nil { baseByKey[key] = (b, rest) }
        }
        for f in finetunedLeft {
            let name = finetunedStripped[f] ?? finetuned[f].name
            guard name.hasPrefix(stripping.finetuned) else { continue }
            let rest = String(name.dropFirst(stripping.finetuned.count))
            guard let (b, baseRest) = baseByKey[ParameterNames.canonicalize(rest).name], matchOfBase[b] == nil else { continue }
            link(base: b, finetuned: f)
            if !stripping.base.isEmpty { baseStripped[b] = baseRest; baseRemoved[b] += stripping.base }
            if !stripping.finetuned.isEmpty { finetunedStripped[f] = rest; finetunedRemoved[f] += stripping.finetuned }
        }
    }

    /// What was removed from paired names, per side, most tensors first.
    var stripping: PrefixStripping {
        var baseCounts: [String: Int] = [:], finetunedCounts: [String: Int] = [:]
        for (b, match) in matchOfBase.enumerated() {
            guard let f = match else { continue }
            if !baseRemoved[b].isEmpty { baseCounts[baseRemoved[b], default: 0] += 1 }
            if !finetunedRemoved[f].isEmpty { finetunedCounts[finetunedRemoved[f], default: 0] += 1 }
        }
        func ordered(_ counts: [String: Int]) -> [String] {
            counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map(\.key)
        }
        return PrefixStripping(base: ordered(baseCounts), finetuned: ordered(finetunedCounts), ambiguous: ambiguous)
    }
}
