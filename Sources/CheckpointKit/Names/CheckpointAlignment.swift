import Foundation

/// Matches the tensors of two checkpoints by parameter, across prefixes (`bert.`), training wrappers
/// (`module.`, `_orig_mod.`, FSDP), frameworks (TF names and transposed kernels) and legacy
/// spellings (`gamma`/`beta`).
///
/// The one pairing of the library: `diff`, `patch`, `apply` and `verify` (a base saved through
/// wrappers), `mask` selection and Fisher `--from-grads` all go through it.
public struct CheckpointAlignment: Sendable {
    public var pairs: [TensorPair]
    /// Tensors only the base has (dropped pretraining heads, buffers).
    public var onlyInBase: [TensorInfo]
    /// Tensors only the fine-tune has (a new task head).
    public var onlyInFinetuned: [TensorInfo]

    /// What was stripped from names to pair them (training wrappers, a found prefix), or the
    /// ambiguity that stopped the prefix search.
    public var stripping: PrefixStripping
    /// The prefix the search removed from fine-tuned names ("" if none).
    var baseSearchPrefix = ""
    var finetunedSearchPrefix = ""
    /// See ``finetunedOnlyPrefix(_:)``.
    var finetunedOnlyPrefix = ""

    /// Pairs tensors: first the explicit `renames` (fine-tuned name -> base name), then equal names,
    /// then equal canonical names once training wrappers (`module.`, `_orig_mod.`, FSDP, activation
    /// checkpointing; ``TrainingWrappers``) are removed, then, for what is left, the leading path
    /// components whose removal makes the sides meet (``PrefixSearch``). Pairs come in the base's
    /// tensor order; each pair's role is read from its wrapper-free name.
    ///   - namesAreDistinct: whether each side's names are known to be distinct
    ///     (``Checkpoint/namesAreDistinct``), which lets equal names at equal positions pair
    ///     without a name index.
    public init(base: [TensorInfo], finetuned: [TensorInfo], renames: [String: String] = [:], namesAreDistinct: Bool = false) {
        var pairing = NamePairing(base: base, finetuned: finetuned)
        pairing.pairByName(renames: renames, namesAreDistinct: namesAreDistinct)
        pairing.pairByCanonicalName()
        pairing.pairPaddingFreePositionTables()
        pairing.pairBySearchedPrefix()
        var matched: [(base: Int, finetuned: Int)] = []
        matched.reserveCapacity(Swift.min(base.count, finetuned.count))
        var onlyInBase: [TensorInfo] = []
        for (b, tensor) in base.enumerated() {
            if let f = pairing.matchOfBase[b] { matched.append((b, f)) } else { onlyInBase.append(tensor) }
        }
        self.pairs = CheckpointAlignment.pairs(matched, base: base, finetuned: finetuned,
                                               baseStripped: pairing.baseStripped, finetunedStripped: pairing.finetunedStripped)
        self.onlyInBase = onlyInBase
        onlyInFinetuned = pairing.unpairedFinetuned.map { finetuned[$0] }
        stripping = pairing.stripping
        baseSearchPrefix = pairing.found?.base ?? ""
        finetunedSearchPrefix = pairing.found?.finetuned ?? ""
        finetunedOnlyPrefix = CheckpointAlignment.finetunedOnlyPrefix(pairs)
    }

    /// The pairs of the `matched` indices, built on every core: each pair's role is read from its
    /// name alone. The arrays are read through buffer pointers: an array read from a closure
    /// running on several threads takes a reference count on its storage, shared by every thread,
    /// at each access.
    ///   - baseStripped, finetunedStripped: each tensor's name without training wrappers, where
    ///     pairing removed some.
    private static func pairs(_ matched: [(base: Int, finetuned: Int)], base: [TensorInfo], finetuned: [TensorInfo],
                              baseStripped: [String?], finetunedStripped: [String?]) -> [TensorPair] {
        matched.withUnsafeBufferPointer { matched in
            base.withUnsafeBufferPointer { base in
                finetuned.withUnsafeBufferPointer { finetuned in
                    baseStripped.withUnsafeBufferPointer { baseStripped in
                        finetunedStripped.withUnsafeBufferPointer { finetunedStripped in
                            [TensorPair](parallelMapping: matched.count) { index in
                                let (b, f) = matched[index]
                                // Pairs of equal names skipped the wrapper removal; their roles still
                                // need it (once for both sides when the stored names are equal, the
                                // common case).
                                let baseName = baseStripped[b] ?? TrainingWrappers.strip(base[b].name)?.name
                                let sameName = finetunedStripped[f] == nil && baseStripped[b] == nil
                                    && base[b].name == finetuned[f].name
                                let finetunedName = sameName ? baseName
                                    : finetunedStripped[f] ?? TrainingWrappers.strip(finetuned[f].name)?.name
                                return pair(base: base[b], finetuned: finetuned[f], baseName: baseName, finetunedName: finetunedName)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The name a tensor only the fine-tune has (a new head) gets in an output that keeps the base's
    /// names: without training wrappers, and without the leading components it shares with the
    /// prefix the fine-tune's paired names carry beyond the base's (`module._orig_mod.`,
    /// PEFT's `base_model.model.`, a found `trainer.`): `base_model.model.classifier.weight` ->
    /// `classifier.weight` when `base_model.model.bert.x` pairs with `x`.
    public func baseStyleName(ofNew tensor: TensorInfo) -> String {
        let name = TrainingWrappers.strip(tensor.name)?.name ?? tensor.name
        guard !finetunedOnlyPrefix.isEmpty else { return name }
        let bytes = Array(name.utf8)
        let prefix = Array(finetunedOnlyPrefix.utf8)
        var end = 0
        var i = 0
        while i < bytes.count, i < prefix.count, bytes[i] == prefix[i] {
            if bytes[i] == UInt8(ascii: ".") { end = i + 1 }
            i += 1
        }
        guard end > 0, end < bytes.count else { return name }
        return String(decoding: bytes[end...], as: UTF8.self)
    }

    /// The leading text most paired fine-tuned names (wrappers removed) have before the base's
    /// name (wrappers removed): `bert.` for a `BertForSequenceClassification` against a `BertModel`.
    static func finetunedOnlyPrefix(_ pairs: [TensorPair]) -> String {
        var counts: [String: Int] = [:]
        for pair in pairs {
            // Equal stored names have equal wrapper-free names: no extra prefix.
            if pair.base.name == pair.finetuned.name { continue }
            let base: String = TrainingWrappers.strip(pair.base.name)?.name ?? pair.base.name
            let finetuned: String = TrainingWrappers.strip(pair.finetuned.name)?.name ?? pair.finetuned.name
            let extra = finetuned.utf8.count - base.utf8.count
            guard extra > 0, finetuned.hasSuffix("." + base) else { continue }
            counts[String(decoding: finetuned.utf8.prefix(extra), as: UTF8.self), default: 0] += 1
        }
        var best = ""
        var bestCount = 0
        for (prefix, count) in counts where count > bestCount || (count == bestCount && prefix < best) {
            best = prefix
            bestCount = count
        }
        return best
    }

    /// Whether the two names of `pair` differ by training wrappers and the found prefixes only
    /// (not by a model prefix such as `bert.`, a framework or a legacy spelling).
    public func differOnlyByWrappers(_ pair: TensorPair) -> Bool {
        var base = TrainingWrappers.strip(pair.base.name)?.name ?? pair.base.name
        var finetuned = TrainingWrappers.strip(pair.finetuned.name)?.name ?? pair.finetuned.name
        if !baseSearchPrefix.isEmpty, base.hasPrefix(baseSearchPrefix) { base.removeFirst(baseSearchPrefix.count) }
        if !finetunedSearchPrefix.isEmpty, finetuned.hasPrefix(finetunedSearchPrefix) { finetuned.removeFirst(finetunedSearchPrefix.count) }
        return base == finetuned
    }

    /// The names `name` (of either side, or of a file such as a mask written for either) may be
    /// paired by: its ``pairingName(_:)``, and that of the name without the prefix the search
    /// found on each side.
    public func pairingNames(_ name: String) -> [String] {
        var names = [CheckpointAlignment.pairingName(name)]
        let stripped = TrainingWrappers.strip(name)?.name ?? name
        for prefix in [baseSearchPrefix, finetunedSearchPrefix] where !prefix.isEmpty && stripped.hasPrefix(prefix) {
            names.append(CheckpointAlignment.pairingName(String(stripped.dropFirst(prefix.count))))
        }
        return names
    }

    /// The name a tensor is paired by: canonical, without training wrappers. A mask or gradient file
    /// written by wrapped training code finds its tensors by this name.
    public static func pairingName(_ name: String) -> String {
        ParameterNames.canonicalize(TrainingWrappers.strip(name)?.name ?? name).name
    }

    public init(base: any Checkpoint, finetuned: any Checkpoint, renames: [String: String] = [:]) {
        self.init(base: base.tensors, finetuned: finetuned.tensors, renames: renames,
                  namesAreDistinct: base.namesAreDistinct && finetuned.namesAreDistinct)
    }

    /// Works out how the two sides' elements correspond.
    /// - Parameters:
    ///   - baseName, finetunedName: the names with wrappers and found prefixes removed, when
    ///     different from the stored ones; roles are read from them.
    static func pair(base: TensorInfo, finetuned: TensorInfo, baseName: String? = nil, finetunedName: String? = nil) -> TensorPair {
        let baseRole = ParameterNames.role(of: baseName ?? base.name, dtype: base.dtype)
        // A role depends on the name and on whether the dtype is floating point only: read it once
        // when both sides agree on these (a checkpoint against its own fine-tune).
        let finetunedNameUsed = finetunedName ?? finetuned.name
        let finetunedRole = finetunedNameUsed == (baseName ?? base.name)
            && base.dtype.isFloatingPoint == finetuned.dtype.isFloatingPoint
            ? baseRole : ParameterNames.role(of: finetunedNameUsed, dtype: finetuned.dtype)
        let role = baseRole.isTFKernel && !finetunedRole.isTFKernel ? finetunedRole : baseRole
        let found = correspondence(base: base, baseRole: baseRole, finetuned: finetuned, finetunedRole: finetunedRole, role: role)
        // Built once, at the end: a `TensorPair` built early and then changed was copied out whole
        // on return (a dozen reference counts a pair, 100,000 pairs for a mixture of experts).
        return TensorPair(base: base, finetuned: finetuned, role: role, baseLayout: found.baseLayout,
                          finetunedLayout: found.finetunedLayout, problem: found.problem, shapeChange: found.shapeChange)
    }

    /// How the elements of a pair correspond, for ``pair(base:finetuned:baseName:finetunedName:)``.
    private struct Correspondence {
        var baseLayout = ElementLayout.identity
        var finetunedLayout = ElementLayout.identity
        var problem: String?
        var shapeChange: ShapeChange?
    }

    /// Works out the layouts (a transposed TF kernel), a shape change or the problem of a pair whose
    /// roles are known; `role` is the pair's.
    private static func correspondence(base: TensorInfo, baseRole: ParameterRole, finetuned: TensorInfo,
                                       finetunedRole: ParameterRole, role: ParameterRole) -> Correspondence {
        var result = Correspondence()
        // A TF kernel against a PyTorch weight is transposed even when both are square (and so
        // have equal shapes): check this before the equal-shape shortcut.
        if baseRole.isTFKernel != finetunedRole.isTFKernel, base.elementCount == finetuned.elementCount {
            let kernel = baseRole.isTFKernel ? base : finetuned
            let weight = baseRole.isTFKernel ? finetuned : base
            // A per-head kernel is never read as a 2-D transpose, even where its shape allows one.
            if Keras3Names.isPerHeadKernel(kernel.name) {
                guard let layout = Keras3Names.perHeadLayout(kernel: kernel.shape, weight: weight.shape) else {
                    result.problem = "per-head kernel \(kernel.shape) does not fit weight \(weight.shape)"
                    return result
                }
                if baseRole.isTFKernel { result.baseLayout = layout } else { result.finetunedLayout = layout }
                return result
            }
            if let layout = transposedLayout(kernel: kernel.shape, weight: weight.shape) {
                if baseRole.isTFKernel { result.baseLayout = layout } else { result.finetunedLayout = layout }
                return result
            }
        }
        if base.shape == finetuned.shape { return result }
        guard base.elementCount == finetuned.elementCount else {
            // A KerasHub RoBERTa position table against another table: only the offset rule's
            // answer; never read as a table resized from row 0.
            result.shapeChange = PositionPaddingRows.appliesTo(baseRole, finetunedRole)
                ? PositionPaddingRows.shapeChange(base: base, baseRole: baseRole, finetuned: finetuned, finetunedRole: finetunedRole)
                : ShapeChange.classify(base: base, finetuned: finetuned, role: role)
            if result.shapeChange == nil { result.problem = "shape \(base.shape) in base vs \(finetuned.shape) in fine-tune" }
            return result
        }
        let squeezedBase = base.shape.filter { $0 != 1 }
        let squeezedFinetuned = finetuned.shape.filter { $0 != 1 }
        if squeezedBase == squeezedFinetuned || base.shape.count <= 1 || finetuned.shape.count <= 1 {
            return result
        }
        // A Keras EinsumDense kernel (hidden, heads, head_dim) against the same 2-D matrix.
        if baseRole.isTFKernel == finetunedRole.isTFKernel, Keras3Names.sameMatrix(base.shape, finetuned.shape) { return result }
        result.problem = "shape \(base.shape) in base vs \(finetuned.shape) in fine-tune"
        return result
    }

    /// The 2-D view of a TF kernel whose transpose is the PyTorch `weight` shape, if there is one.
    static func transposedLayout(kernel: [Int], weight: [Int]) -> ElementLayout? {
        guard kernel.count >= 2, weight.count == 2 else { return nil }
        for split in 1..<kernel.count {
            let rows = kernel[..<split].reduce(1, *)
            let columns = kernel[split...].reduce(1, *)
            if weight == [columns, rows] { return .transposed(rows: rows, columns: columns) }
        }
        return nil
    }

    /// Reads a `--map` file: a JSON object `{"fine-tuned name": "base name"}`, or lines
    /// `FINETUNED_NAME BASE_NAME` (whitespace-separated, `#` comments).
    public static func loadRenames(path: String) throws -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CheckpointError.cannotOpen(path: path, reason: "cannot read the name map")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{") {
            let value: JSONValue
            do {
                value = try JSONValue.parse(Array(trimmed.utf8))
            } catch {
                throw CheckpointError.invalidHeader(path: path, reason: "name map JSON: \(error)")
            }
            var renames: [String: String] = [:]
            for (key, target) in value.objectValue ?? [] {
                guard let name = target.stringValue else {
                    throw CheckpointError.invalidHeader(path: path, reason: "name map value for '\(key)' is not a string")
                }
                renames[key] = name
            }
            return renames
        }
        var renames: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if fields.isEmpty { continue }
            guard fields.count == 2 else {
                throw CheckpointError.invalidHeader(path: path, reason: "line \(number + 1): expected 'FINETUNED_NAME BASE_NAME'")
            }
            renames[fields[0]] = fields[1]
        }
        return renames
    }
}
