import Foundation

/// Which fine-tuning method a pair of checkpoints looks like it came from, recognised from which
/// parameters changed at all (any bit).
///
/// Only parameters both checkpoints hold count (buffers and pairs with a problem do not); tensors on
/// one side only, such as a freshly initialised classifier, are left out of the classification and
/// mentioned in the line as the new head.
public struct FineTuningRegime: Sendable {
    public enum Kind: String, Sendable, Codable {
        /// No shared parameter changed, and nothing new on the fine-tuned side.
        case unchanged
        /// Only LayerNorm weights and biases changed (LayerNorm tuning).
        case layerNorm = "layernorm"
        /// Only biases changed, LayerNorm biases included (BitFit).
        case bias
        /// Only LayerNorm parameters and biases changed.
        case layerNormAndBias = "layernorm+bias"
        /// Only the top layers changed, plus what sits above them (pooler, final norm, head).
        case lastLayers = "last"
        /// Only the head (pooler, classifier) changed, or only a new head was added: linear probing.
        case head
        /// Every parameter tensor changed, densely (an embedding table's untouched rows aside), or
        /// every layer from the lowest up with the embeddings frozen, or at least 90% of the tensors.
        case full
        /// Changes in many tensors but to few of their elements (masked fine-tuning, e.g. FISH).
        case sparse
        /// Some other subset of tensors changed.
        case partial
        /// No tensor could be compared: the checkpoints share no parameter (another model, or
        /// names that need a name map, see ``CheckpointAlignment``).
        case unrelated
    }

    public var kind: Kind
    /// For ``Kind/lastLayers``: how many layers changed, counted from the top.
    public var lastLayerCount: Int?
    /// Elements that changed, and all elements of compared parameters.
    public var changedParameters: Int
    public var parameters: Int
    /// Parameter tensors with at least one changed element, and all compared parameter tensors.
    public var changedTensors: Int
    public var tensors: Int
    /// Tensors only the fine-tune has (a new task head).
    public var newTensors: [TensorInfo]
    /// Tensors whose leading dimension changed (tokens added to an embedding or output matrix):
    /// classified on their shared rows, and named in the line.
    public var resized: [TensorDifference] = []
    /// Task heads whose shape changed (a new head for a new task): like a new head.
    public var replacedHeads: [TensorDifference] = []
    /// The dtype the fine-tune was saved in when it differs from the base's and the base was
    /// converted to it before comparing (the most common such dtype), else nil.
    public var savedAs: DType?
    /// BF16 (or F16) when the fine-tune's F32 tensors hold only values of that dtype and were
    /// compared with the base rounded to it (``HalfPrecisionRounding``: trained or stored in it,
    /// saved as F32), else nil.
    public var roundedThrough: DType?
    /// The one-line verdict, starting with "regime: ".
    public var line: String

    /// A short machine-readable name: `layernorm`, `bias`, `last2`, `full`, ...
    public var identifier: String {
        kind == .lastLayers ? "last\(lastLayerCount ?? 0)" : kind.rawValue
    }

    public init(_ diff: CheckpointDiff) {
        let parameters = TensorSubset(diff.tensors, where: \.isParameter)
        let changed = parameters.filter { ($0.changed ?? 0) > 0 }
        self.parameters = parameters.reduce(0) { $0 + $1.numel }
        changedParameters = changed.reduce(0) { $0 + ($1.changed ?? 0) }
        tensors = parameters.count
        changedTensors = changed.count
        // Float buffers (a Keras optimizer's moments, `inv_freq`) are state, not a new head.
        let newRoles = diff.onlyInFinetuned.filter(\.dtype.isFloatingPoint)
            .map { ($0, ParameterNames.role(of: $0.name, dtype: $0.dtype)) }.filter { $0.1.kind != .buffer }
        newTensors = newRoles.map(\.0)
        let rounded = parameters.filter { $0.roundedThrough != nil }
        let narrowed = parameters.filter(FineTuningRegime.isNarrowed)
        let verdict = FineTuningRegime.classify(diff, parameters: parameters, changed: changed, newTensors: newTensors,
                                                changedParameters: changedParameters, total: self.parameters, rounded: !narrowed.isEmpty)
        kind = verdict.kind
        lastLayerCount = verdict.lastLayerCount
        var detail = verdict.detail
        resized = TensorSubset(diff.tensors, where: { $0.shapeChange != nil && $0.shapeChange != .replacedHead }).values
        replacedHeads = TensorSubset(diff.tensors, where: { $0.shapeChange == .replacedHead }).values
        if kind == .unchanged, !replacedHeads.isEmpty {
            kind = .head
            detail = "no shared parameter changed; only the replaced head differs"
        }
        let name = FineTuningRegime.title(of: kind, lastLayerCount: lastLayerCount, identical: diff.isIdentical)
        // A replaced head is not compared (no sums), so its own dtype never counts here.
        let converted = parameters.filter { $0.conversion != nil && $0.roundedThrough == nil }
        let savedAs = FineTuningRegime.mostCommon(converted.compactMap(\.conversion))
        self.savedAs = savedAs
        roundedThrough = FineTuningRegime.mostCommon(rounded.compactMap(\.roundedThrough))
        if let first = parameters.first(where: { $0.baseDType != $0.finetunedDType && $0.conversion == nil }) {
            detail += "; dtypes differ (\(first.baseDType.rawValue) vs \(first.finetunedDType.rawValue)), so rounding counts as change"
        }
        var line = "regime: \(name) (\(detail))"
        if let savedAs {
            line += FineTuningRegime.conversionClause(savedAs, converted: converted)
        }
        if let roundedThrough {
            line += FineTuningRegime.roundingClause(roundedThrough, rounded: rounded)
        }
        if kind != .unrelated {
            // Only a head is called a head: a tensor the base lacks under another role (a KerasHub
            // GPT-2's split query/key/value against Hugging Face's fused `c_attn`) is named as such.
            var heads: [TensorInfo] = [], others: [TensorInfo] = []
            for (tensor, role) in newRoles {
                if FineTuningRegime.headComponents.contains(role.component) { heads.append(tensor) } else { others.append(tensor) }
            }
            line += FineTuningRegime.newTensorClause("new head", heads) + FineTuningRegime.newTensorClause("only in the fine-tune", others)
        }
        line += FineTuningRegime.shapeClauses(resized: resized, replacedHeads: replacedHeads)
        self.line = line
    }

    /// "; head replaced: classifier 2 -> 3 labels; vocabulary resized: word_embeddings +2 rows (new
    /// tokens 30522-30523)", or "" when no shape changed.
    static func shapeClauses(resized: [TensorDifference], replacedHeads: [TensorDifference]) -> String {
        var text = ""
        var modules: [String] = []
        var heads: [String: TensorDifference] = [:]
        for head in replacedHeads {
            let module = head.name.split(separator: ".").dropLast().joined(separator: ".")
            if heads[module] == nil { modules.append(module); heads[module] = head }
        }
        if !modules.isEmpty {
            text += "; head replaced: " + modules.map { module -> String in
                let t = heads[module]!
                let unit = t.role.component == .head ? "labels" : "rows"
                return "\(module.isEmpty ? t.name : module) \(t.baseShape.first ?? 0) -> \(t.finetunedShape.first ?? 0) \(unit)"
            }.joined(separator: ", ")
        }
        // KerasHub RoBERTa's position table against Hugging Face's is not a vocabulary change.
        let offset = resized.filter { $0.shapeChange?.isOffset == true }
        let grown = resized.filter { $0.shapeChange?.isOffset != true }
        if !grown.isEmpty { text += "; vocabulary resized: " + shapeSummaries(grown) }
        if !offset.isEmpty { text += "; compared without padding rows: " + shapeSummaries(offset) }
        return text
    }

    /// "word_embeddings +2 rows (new tokens 30522-30523), ..." for tensors whose shape changed.
    static func shapeSummaries(_ tensors: [TensorDifference]) -> String {
        tensors.map { t -> String in
            let parts = t.name.split(separator: ".")
            let short = parts.last == "weight" && parts.count >= 2 ? String(parts[parts.count - 2]) : parts.suffix(2).joined(separator: ".")
            return "\(short) \(t.shapeChange!.summary)"
        }.joined(separator: ", ")
    }

    /// The components a task head is made of.
    static let headComponents: Set<Component> = [.head, .pooler, .pretrainingHead]

    /// `; LABEL: a, b, c, d and N more (P parameters)`, or nothing for no tensors.
    static func newTensorClause(_ label: String, _ tensors: [TensorInfo]) -> String {
        guard !tensors.isEmpty else { return "" }
        let names = tensors.prefix(4).map(\.name).joined(separator: ", ")
        let more = tensors.count > 4 ? " and \(tensors.count - 4) more" : ""
        let size = tensors.reduce(0) { $0 + $1.elementCount }
        return "; \(label): \(names)\(more) (\(NumberText.grouped(size)) parameters)"
    }

    /// Which regime the changed tensors point to, and the detail of the one-line verdict.
    /// With `rounded` (tensors compared with the base rounded to a narrower dtype, ``isNarrowed``),
    /// no update is called sparse: a change smaller than half a step of the narrower dtype (about
    /// 0.2% of the value in BF16) does not survive the rounding, so a dense update leaves most
    /// elements equal to the rounded base.
    static func classify(_ diff: CheckpointDiff, parameters: TensorSubset, changed: TensorSubset, newTensors: [TensorInfo],
                         changedParameters: Int, total: Int, rounded: Bool) -> (kind: Kind, lastLayerCount: Int?, detail: String) {
        var kind: Kind
        var lastLayerCount: Int? = nil
        let roles = changed.map(\.role)
        let layerCount = (parameters.map { $0.role.layer ?? -1 }.max() ?? -1) + 1
        let counts = "\(NumberText.grouped(changedParameters)) of \(NumberText.grouped(total)) parameters changed"
        var detail: String
        if parameters.isEmpty, !(diff.onlyInBase.isEmpty && diff.onlyInFinetuned.isEmpty) {
            kind = .unrelated
            detail = "no tensor of the fine-tune matches one of the base; different models, or names that need a name map"
        } else if changed.isEmpty {
            kind = newTensors.isEmpty ? .unchanged : .head
            detail = kind == .unchanged ? "no parameter changed" : "no shared parameter changed; only the new head differs"
        } else if roles.allSatisfy(\.kind.isLayerNorm) {
            kind = .layerNorm
            detail = "\(counts), all in LayerNorm"
        } else if roles.allSatisfy(\.kind.isBias) {
            kind = .bias
            detail = "\(counts), all biases"
        } else if roles.allSatisfy({ $0.kind.isLayerNorm || $0.kind.isBias }) {
            kind = .layerNormAndBias
            detail = "\(counts), all LayerNorm parameters or biases"
        } else if roles.allSatisfy({ headComponents.contains($0.component) }) {
            kind = .head
            detail = "\(counts), all in \(FineTuningRegime.describe(Set(roles.map(\.component))))"
        } else if FineTuningRegime.isFullFineTune(parameters: parameters, changed: changed, judgesSparsity: !rounded) {
            kind = .full
            detail = "\(counts), in every tensor" + FineTuningRegime.untouchedRowsDetail(changed)
        } else if !rounded && FineTuningRegime.isSparse(changed) {
            kind = .sparse
            let share = Double(changedParameters) / Double(max(1, total)) * 100
            detail = "\(counts) (\(String(format: "%.2f", share))%), spread over \(changed.count) tensors"
        } else if let lowest = FineTuningRegime.lowestTrainedLayer(parameters: parameters, changed: changed, layerCount: layerCount) {
            let k = layerCount - lowest
            let above = Set(roles.filter { $0.layer == nil }.map(\.component))
            let where_ = lowest == layerCount - 1 ? "layer \(lowest)" : "layers \(lowest)-\(layerCount - 1)"
            if lowest == 0 {
                kind = .full
                detail = "\(counts), in every layer; embeddings unchanged"
            } else {
                kind = .lastLayers
                lastLayerCount = k
                detail = "\(counts), all in \(where_)\(above.isEmpty ? "" : " and \(FineTuningRegime.describe(above))")"
            }
        } else if Double(changed.count) >= 0.9 * Double(parameters.count) {
            kind = .full
            detail = changed.count == parameters.count
                ? "\(counts), in every tensor"
                : "\(counts), in \(changed.count) of \(parameters.count) tensors" + FineTuningRegime.untouchedRowsDetail(changed)
        } else {
            kind = .partial
            detail = "\(counts), in \(changed.count) of \(parameters.count) tensors"
        }
        return (kind, lastLayerCount, detail)
    }

    /// The regime's name at the start of the line: "LayerNorm-only fine-tuning", ...
    static func title(of kind: Kind, lastLayerCount: Int?, identical: Bool) -> String {
        switch kind {
        case .unchanged: return identical ? "identical checkpoints" : "no parameter changed"
        case .layerNorm: return "LayerNorm-only fine-tuning"
        case .bias: return "bias-only fine-tuning (BitFit)"
        case .layerNormAndBias: return "LayerNorm and bias fine-tuning"
        case .lastLayers: return "last \(lastLayerCount ?? 0) layer\(lastLayerCount == 1 ? "" : "s") fine-tuned"
        case .head: return "head only (linear probing)"
        case .full: return "full fine-tuning"
        case .sparse: return "sparse fine-tuning"
        case .partial: return "partial fine-tuning"
        case .unrelated: return "nothing in common"
        }
    }

    /// The lowest layer of a "top k layers" pattern: every changed tensor sits in a layer at or
    /// above it, or above the layer stack (pooler, final norm, head); nothing below it or in the
    /// embeddings changed; and at least 90% of the tensors of those layers changed.
    static func lowestTrainedLayer(parameters: TensorSubset, changed: TensorSubset, layerCount: Int) -> Int? {
        guard layerCount > 0 else { return nil }
        let above: Set<Component> = [.head, .pooler, .pretrainingHead, .finalLayerNorm]
        var lowest = Int.max
        for tensor in changed {
            if let layer = tensor.role.layer {
                lowest = min(lowest, layer)
            } else if !above.contains(tensor.role.component) {
                return nil
            }
        }
        guard lowest < layerCount else { return nil }
        let inTrainedLayers = parameters.filter { ($0.role.layer ?? -1) >= lowest }
        let changedThere = inTrainedLayers.filter { ($0.changed ?? 0) > 0 }
        guard Double(changedThere.count) >= 0.9 * Double(inTrainedLayers.count) else { return nil }
        return lowest
    }

    /// The full fine-tuning rule: every compared parameter tensor changed, and the changed tensors
    /// changed in at least half of their elements, not counting the untouched rows of embedding
    /// tables (tokens absent from the training data keep their rows bit for bit in a full
    /// fine-tune). Without `judgesSparsity` (a comparison through a narrowing rounding), every
    /// tensor changing is enough.
    static func isFullFineTune(parameters: TensorSubset, changed: TensorSubset, judgesSparsity: Bool) -> Bool {
        changed.count == parameters.count && !(judgesSparsity && isSparse(changed))
    }

    /// Whether changes touch several tensors but under half of those tensors' elements (masked
    /// fine-tuning such as FISH, or a DARE-style dropped update), where the elements of an
    /// embedding table's untouched rows are not counted: a row-sparse embedding is not a sparse
    /// update.
    static func isSparse(_ changed: TensorSubset) -> Bool {
        guard changed.count >= 2 else { return false }
        let elements = changed.reduce(0) { $0 + touchedElements($1) }
        let changedElements = changed.reduce(0) { $0 + ($1.changed ?? 0) }
        return Double(changedElements) < 0.5 * Double(elements)
    }

    /// A tensor's elements, less those of its unchanged rows when it is an embedding table.
    static func touchedElements(_ tensor: TensorDifference) -> Int {
        guard let rows = tensor.changedRows, let columns = tensor.baseShape.last else { return tensor.numel }
        return rows * columns
    }

    /// "; word_embeddings: 16,086 of 30,522 rows unchanged, tokens absent from the training data",
    /// for each changed embedding table with unchanged rows, largest table first.
    static func untouchedRowsDetail(_ changed: TensorSubset) -> String {
        var tables: [TensorDifference] = []
        for tensor in changed {
            guard let rows = tensor.changedRows, let total = tensor.baseShape.first, rows < total else { continue }
            tables.append(tensor)
        }
        // The vocabulary first: the largest table is the one the sentence is about.
        tables.sort { ($0.baseShape.first ?? 0) > ($1.baseShape.first ?? 0) }
        var parts: [String] = []
        for tensor in tables {
            let total: Int = tensor.baseShape.first ?? 0
            let unchanged: Int = total - (tensor.changedRows ?? 0)
            let components = tensor.name.split(separator: ".")
            let table = components.count >= 2 ? String(components[components.count - 2]) : tensor.name
            parts.append(table + ": " + NumberText.grouped(unchanged) + " of " + NumberText.grouped(total) + " rows unchanged")
        }
        guard !parts.isEmpty else { return "" }
        return "; " + parts.joined(separator: ", ") + ", tokens absent from the training data"
    }

    /// "the pooler and the head".
    static func describe(_ components: Set<Component>) -> String {
        let names = components.sorted().map { component -> String in
            switch component {
            case .pooler: return "the pooler"
            case .head: return "the head"
            case .pretrainingHead: return "the pretraining head"
            case .finalLayerNorm: return "the final norm"
            default: return component.rawValue
            }
        }
        return names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " and " + names.last!
    }

    /// ", saved as BF16 (the other 102 tensors are the base rounded to BF16)": what a change of
    /// precision did, apart from training.
    static func conversionClause(_ dtype: DType, converted: TensorSubset) -> String {
        let verb = converted.allSatisfy { DTypeConversion.isWidening(from: $0.baseDType, to: $0.finetunedDType) } ? "widened" : "rounded"
        return ", saved as \(dtype.rawValue) (" + untouchedText(converted, "the base \(verb) to \(dtype.rawValue)")
            + sparsityCaveat(dtype, converted.filter(isNarrowed)) + ")"
    }

    /// "the other 77 tensors are BASE", "all 77 tensors are BASE", or, when every one changed,
    /// "77 tensors compared with BASE".
    static func untouchedText(_ tensors: TensorSubset, _ base: String) -> String {
        let untouched = tensors.filter { $0.changed == 0 }.count
        if untouched == 0 { return "\(tensors.count) tensor\(tensors.count == 1 ? "" : "s") compared with \(base)" }
        let other = tensors.count == untouched ? "all \(untouched)" : "the other \(untouched)"
        return "\(other) tensor\(untouched == 1 ? " is" : "s are") \(base)"
    }

    /// Whether a pair was compared with its base rounded to a narrower dtype: converted to a
    /// fine-tune saved in a narrower dtype, or rounded through BF16.
    static func isNarrowed(_ tensor: TensorDifference) -> Bool {
        guard let conversion = tensor.conversion else { return false }
        return !DTypeConversion.isWidening(from: tensor.baseDType, to: conversion)
    }

    /// "; changes under half a BF16 step do not show, so sparsity is not judged" when the changed
    /// tensors among `narrowed` changed in under half their elements (what would read as sparse).
    static func sparsityCaveat(_ dtype: DType, _ narrowed: TensorSubset) -> String {
        let article = dtype.rawValue.hasPrefix("F") ? "an" : "a"  // "an F16 step", "a BF16 step"
        return isSparse(narrowed.filter { ($0.changed ?? 0) > 0 }) ? "; changes under half \(article) \(dtype.rawValue) step do not show, so sparsity is not judged" : ""
    }

    /// ", rounded through BF16 (the other 77 tensors are the base rounded to BF16, saved as F32)":
    /// a fine-tune trained or stored in BF16 and saved as F32, compared with the rounded base.
    static func roundingClause(_ dtype: DType, rounded: TensorSubset) -> String {
        let saved = rounded.first?.finetunedDType.rawValue ?? "F32"
        return ", rounded through \(dtype.rawValue) (" + untouchedText(rounded, "the base rounded to \(dtype.rawValue)")
            + ", saved as \(saved)" + sparsityCaveat(dtype, rounded) + ")"
    }

    static func mostCommon(_ dtypes: [DType]) -> DType? {
        var counts: [DType: Int] = [:]
        for dtype in dtypes { counts[dtype, default: 0] += 1 }
        return counts.max { ($0.value, $1.key.rawValue) < ($1.value, $0.key.rawValue) }?.key
    }
}
