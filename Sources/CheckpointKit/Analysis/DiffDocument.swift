import Foundation

/// The `ckpt diff --json` document: a stable schema other tools read.
///
/// Top level: `base`, `finetuned`, `base_format`, `finetuned_format`, `metric`, `identical`,
/// `regime` (`kind`, `identifier`, `line`, counts, `new_head`, `resized` and `replaced_heads`:
/// `name`, `base_shape`, `finetuned_shape`), `overall`, `tensors`, `groups`
/// (`component`, `kind`, `bias_type`, `layer`, `layer_component`), `only_in_base`,
/// `only_in_finetuned` (names), `bytes_compared`, `seconds`, `problems` (every tensor side holding
/// NaN or infinity: `side`, `tensor`, `stored_name`, `nan`, `inf`; empty when there is none).
/// Every tensor entry has `name`, `base_name`, `finetuned_name`, `numel`, `base_l2`,
/// `finetuned_l2`, `delta_l2`, `relative_change`, `mean_abs_delta`, `max_abs_delta`, `cosine`,
/// `changed`, `identical`, dtypes and shapes of both sides, `component`, `kind`, `layer`,
/// `bias_type`, NaN/Inf counts, `non_finite` (pairs left out of the numbers because a side is NaN
/// or infinite; groups and `overall` have it too), `transposed`, `problem`, `shared_rows` and
/// `added_rows` (a tensor whose leading dimension changed: its numbers cover the shared rows;
/// `added_rows` < 0 when rows were removed; null otherwise) and `replaced` (a task head of another
/// shape: numbers null, listed as a new tensor); numbers are null when the pair was not compared.
/// `pairing` (`stripped_from_base`, `stripped_from_finetuned`: training wrappers and found
/// prefixes removed from names to pair them, most tensors first; `ambiguous`: tied strippings of
/// the prefix search, none applied, each `base`, `finetuned`, `pairs`); tensors also have
/// `changed_rows` (embedding tables: rows with a changed element; null otherwise).
/// When the dtypes differ, those measures compare the base converted to the fine-tune's dtype
/// (`converted_to`, null otherwise) and `raw_delta_l2`, `raw_relative_change`,
/// `raw_mean_abs_delta`, `raw_max_abs_delta` and `raw_changed` compare the base as stored (equal
/// to the others when no conversion took place). An F32 fine-tune whose values are all BF16 (or
/// F16) values (trained or stored in that dtype, saved as F32) is compared with the F32 base
/// rounded to it when that rounding explains at least one tensor completely: those tensors have
/// `converted_to` "BF16" (or "F16") and so has the regime's `rounded_through` (null otherwise). The regime's `saved_as` is the
/// dtype the base was converted to when the dtypes differ (null when none was). Non-finite numbers are written as the strings "inf", "-inf" and "nan".
public struct DiffDocument: Encodable, Sendable {
    public var diff: CheckpointDiff
    public var groups: DifferenceGroups
    public var regime: FineTuningRegime
    public var metric: DifferenceMetric
    /// Tensor sides holding NaN or infinity (``NonFiniteProblem/list(_:)``).
    public var problems: [NonFiniteProblem]

    public init(diff: CheckpointDiff, metric: DifferenceMetric) {
        self.diff = diff
        self.metric = metric
        problems = NonFiniteProblem.list(diff)
        (groups, regime) = concurrently({ DifferenceGroups(diff.tensors) }, { FineTuningRegime(diff) })
    }

    /// The document as pretty-printed JSON with sorted keys (``JSONOutput/report(_:)``).
    public func jsonData() throws -> Data {
        try JSONOutput.report(self)
    }

    enum Keys: String, CodingKey {
        case base, finetuned, metric, identical, regime, overall, tensors, groups, seconds
        case baseFormat = "base_format", finetunedFormat = "finetuned_format"
        case onlyInBase = "only_in_base", onlyInFinetuned = "only_in_finetuned"
        case bytesCompared = "bytes_compared"
        case problems
        case pairing
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(diff.basePath, forKey: .base)
        try c.encode(diff.finetunedPath, forKey: .finetuned)
        try c.encode(diff.baseFormat, forKey: .baseFormat)
        try c.encode(diff.finetunedFormat, forKey: .finetunedFormat)
        try c.encode(metric, forKey: .metric)
        try c.encode(diff.isIdentical, forKey: .identical)
        try c.encode(RegimeEntry(regime), forKey: .regime)
        try c.encode(GroupEntry(groups.overall, rank: nil), forKey: .overall)
        try c.encodeStreamed(TensorEntries(tensors: diff.tensors), forKey: .tensors, of: encoder)
        try c.encode(GroupSet(groups: groups, metric: metric), forKey: .groups)
        try c.encode(diff.onlyInBase.map(\.name), forKey: .onlyInBase)
        try c.encode(diff.onlyInFinetuned.map(\.name), forKey: .onlyInFinetuned)
        try c.encode(diff.stripping, forKey: .pairing)
        try c.encode(diff.bytesCompared, forKey: .bytesCompared)
        try c.encode(diff.seconds, forKey: .seconds)
        try c.encode(problems, forKey: .problems)
    }

    /// The `tensors` array, each difference encoded in place: mapping them to a new array first
    /// copied every difference (100,000 of them for a mixture-of-experts checkpoint). Through
    /// ``JSONOutput`` it writes itself to the output instead (`DiffTensorJSON.swift`).
    struct TensorEntries: Encodable {
        var tensors: [TensorDifference]

        func encode(to encoder: Encoder) throws {
            var c = encoder.unkeyedContainer()
            for index in tensors.indices { try c.encode(TensorEntry(tensors[index])) }
        }
    }

    struct TensorEntry: Encodable {
        var t: TensorDifference
        init(_ t: TensorDifference) { self.t = t }

        enum Keys: String, CodingKey, CaseIterable {
            case name, numel, changed, identical, cosine, component, kind, layer, transposed, problem
            case baseName = "base_name", finetunedName = "finetuned_name"
            case baseL2 = "base_l2", finetunedL2 = "finetuned_l2", deltaL2 = "delta_l2"
            case relativeChange = "relative_change", meanAbsDelta = "mean_abs_delta", maxAbsDelta = "max_abs_delta"
            case baseDType = "base_dtype", finetunedDType = "finetuned_dtype"
            case baseShape = "base_shape", finetunedShape = "finetuned_shape"
            case biasType = "bias_type"
            case baseNaN = "base_nan", baseInf = "base_inf", finetunedNaN = "finetuned_nan", finetunedInf = "finetuned_inf"
            case sharedRows = "shared_rows", addedRows = "added_rows", replaced
            case baseFirstRow = "base_first_row", finetunedFirstRow = "finetuned_first_row"
            case nonFinite = "non_finite"
            case changedRows = "changed_rows"
            case convertedTo = "converted_to", rawDeltaL2 = "raw_delta_l2", rawRelativeChange = "raw_relative_change"
            case rawMeanAbsDelta = "raw_mean_abs_delta", rawMaxAbsDelta = "raw_max_abs_delta", rawChanged = "raw_changed"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(t.name, forKey: .name)
            try c.encode(t.baseName, forKey: .baseName)
            try c.encode(t.finetunedName, forKey: .finetunedName)
            try c.encode(t.numel, forKey: .numel)
            try c.encode(t.baseL2, forKey: .baseL2)
            try c.encode(t.finetunedL2, forKey: .finetunedL2)
            try c.encode(t.deltaL2, forKey: .deltaL2)
            try c.encode(t.relativeChange, forKey: .relativeChange)
            try c.encode(t.meanAbsDelta, forKey: .meanAbsDelta)
            try c.encode(t.maxAbsDelta, forKey: .maxAbsDelta)
            try c.encode(t.cosine, forKey: .cosine)
            try c.encode(t.changed, forKey: .changed)
            try c.encode(t.changedRows, forKey: .changedRows)
            try c.encode(t.isIdentical, forKey: .identical)
            try c.encode(t.baseDType, forKey: .baseDType)
            try c.encode(t.finetunedDType, forKey: .finetunedDType)
            try c.encode(t.baseShape, forKey: .baseShape)
            try c.encode(t.finetunedShape, forKey: .finetunedShape)
            try c.encode(t.role.component, forKey: .component)
            try c.encode(t.role.kind, forKey: .kind)
            try c.encode(t.role.layer, forKey: .layer)
            try c.encode(t.role.biasType, forKey: .biasType)
            try c.encode(t.sums?.baseNaN, forKey: .baseNaN)
            try c.encode(t.sums?.baseInfinite, forKey: .baseInf)
            try c.encode(t.sums?.finetunedNaN, forKey: .finetunedNaN)
            try c.encode(t.sums?.finetunedInfinite, forKey: .finetunedInf)
            try c.encode(t.nonFinite, forKey: .nonFinite)
            try c.encode(t.transposed, forKey: .transposed)
            try c.encode(t.problem, forKey: .problem)
            let resized = t.shapeChange.flatMap { $0 == .replacedHead ? nil : $0 }
            try c.encode(resized?.sharedRows, forKey: .sharedRows)
            try c.encode(resized?.addedRows, forKey: .addedRows)
            // Only for KerasHub RoBERTa's position table against Hugging Face's (rows 2.. vs 0..).
            if case let .offsetRows(baseFirst, finetunedFirst, _, _, _)? = resized {
                try c.encode(baseFirst, forKey: .baseFirstRow)
                try c.encode(finetunedFirst, forKey: .finetunedFirstRow)
            }
            try c.encode(t.shapeChange == .replacedHead, forKey: .replaced)
            let raw = t.raw
            try c.encode(t.conversion, forKey: .convertedTo)
            try c.encode(raw.deltaL2, forKey: .rawDeltaL2)
            try c.encode(raw.relativeChange, forKey: .rawRelativeChange)
            try c.encode(raw.meanAbsDelta, forKey: .rawMeanAbsDelta)
            try c.encode(raw.maxAbsDelta, forKey: .rawMaxAbsDelta)
            try c.encode(raw.changed, forKey: .rawChanged)
        }
    }

    struct GroupEntry: Encodable {
        var g: DifferenceGroup
        var rank: Int?
        init(_ g: DifferenceGroup, rank: Int?) {
            self.g = g
            self.rank = rank
        }

        enum Keys: String, CodingKey {
            case group, layer, component, numel, changed, rank, tensors
            case tensorCount = "tensor_count"
            case baseL2 = "base_l2", deltaL2 = "delta_l2"
            case relativeChange = "relative_change", meanAbsDelta = "mean_abs_delta", maxAbsDelta = "max_abs_delta"
            case nonFinite = "non_finite"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(g.name, forKey: .group)
            try c.encode(g.nonFinite, forKey: .nonFinite)
            try c.encodeIfPresent(g.layer, forKey: .layer)
            try c.encodeIfPresent(g.component, forKey: .component)
            try c.encode(g.tensorCount, forKey: .tensorCount)
            try c.encode(g.numel, forKey: .numel)
            try c.encode(g.baseL2, forKey: .baseL2)
            try c.encode(g.deltaL2, forKey: .deltaL2)
            try c.encode(g.relativeChange, forKey: .relativeChange)
            try c.encode(g.meanAbsDelta, forKey: .meanAbsDelta)
            try c.encode(g.maxAbsDelta, forKey: .maxAbsDelta)
            try c.encode(g.changed, forKey: .changed)
            try c.encodeIfPresent(rank, forKey: .rank)
            try c.encodeStreamed(JSONStreamedStrings(g.tensors), forKey: .tensors, of: encoder)
        }
    }

    /// Groups in their natural order (components bottom to top, layers by index), each with its
    /// `rank` (1 = changed most) under the document's metric.
    struct GroupSet: Encodable {
        var groups: DifferenceGroups
        var metric: DifferenceMetric

        enum Keys: String, CodingKey {
            case component, kind, layer
            case biasType = "bias_type", layerComponent = "layer_component"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(entries(groups.byComponent), forKey: .component)
            try c.encode(entries(groups.byKind), forKey: .kind)
            try c.encode(entries(groups.byBiasType), forKey: .biasType)
            try c.encode(entries(groups.byLayer), forKey: .layer)
            try c.encode(entries(groups.cells), forKey: .layerComponent)
        }

        func entries(_ list: [DifferenceGroup]) -> [GroupEntry] {
            let order = DifferenceGroups.ranked(list, by: metric).map(\.name)
            var rank: [String: Int] = [:]
            for (i, name) in order.enumerated() { rank[name] = i + 1 }
            return list.map { GroupEntry($0, rank: rank[$0.name]) }
        }
    }

    struct RegimeEntry: Encodable {
        var r: FineTuningRegime
        init(_ r: FineTuningRegime) { self.r = r }

        enum Keys: String, CodingKey {
            case kind, identifier, line, parameters, tensors
            case lastLayers = "last_layers", changedParameters = "changed_parameters"
            case changedTensors = "changed_tensors", newHead = "new_head"
            case resized, replacedHeads = "replaced_heads"
            case savedAs = "saved_as", roundedThrough = "rounded_through"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(r.kind, forKey: .kind)
            try c.encode(r.identifier, forKey: .identifier)
            try c.encode(r.line, forKey: .line)
            try c.encode(r.lastLayerCount, forKey: .lastLayers)
            try c.encode(r.changedParameters, forKey: .changedParameters)
            try c.encode(r.parameters, forKey: .parameters)
            try c.encode(r.changedTensors, forKey: .changedTensors)
            try c.encode(r.tensors, forKey: .tensors)
            try c.encode(r.newTensors.map(\.name), forKey: .newHead)
            try c.encode(r.savedAs, forKey: .savedAs)
            try c.encode(r.roundedThrough, forKey: .roundedThrough)
            try c.encode(r.resized.map { ResizeEntry(t: $0) }, forKey: .resized)
            try c.encode(r.replacedHeads.map { ResizeEntry(t: $0) }, forKey: .replacedHeads)
        }
    }

    /// A resized tensor or a replaced head in the regime: name and both shapes.
    struct ResizeEntry: Encodable {
        var t: TensorDifference

        enum Keys: String, CodingKey {
            case name, baseShape = "base_shape", finetunedShape = "finetuned_shape"
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(t.name, forKey: .name)
            try c.encode(t.baseShape, forKey: .baseShape)
            try c.encode(t.finetunedShape, forKey: .finetunedShape)
        }
    }
}
