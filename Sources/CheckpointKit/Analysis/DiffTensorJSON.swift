/// The `tensors` array of `diff --json`, written straight to the output (``JSONStreamedValue``,
/// ``JSONEntryWriter``): a mixture-of-experts checkpoint has 100,000 entries of 40-odd members each.
///
/// The bytes are those of ``DiffDocument/TensorEntry``'s `encode(to:)` through ``JSONOutput``
/// (`JSONOutputTests` compares them with Foundation's encoding of every kind of entry).
extension DiffDocument.TensorEntries: JSONStreamedValue {
    func writeJSON(depth: Int, context: JSONStreamContext, into out: inout [UInt8]) {
        let writer = JSONEntryWriter(arrayDepth: depth, pretty: context.pretty, keys: DiffTensorJSON.keys)
        writer.writeArray(count: tensors.count, depth: depth, context: context, into: &out) { index, out in
            DiffTensorJSON.write(tensors[index], writer, into: &out)
        }
    }
}

enum DiffTensorJSON {
    /// The keys of ``DiffDocument/TensorEntry``.
    static let keys = DiffDocument.TensorEntry.Keys.allCases.map(\.stringValue)

    /// One ``DiffDocument/TensorEntry``, its members in the UTF-8 order of their keys. Written out
    /// member by member rather than from a table: a table of closures cost a reference count per
    /// member and tensor.
    static func write(_ t: TensorDifference, _ writer: JSONEntryWriter, into out: inout [UInt8]) {
        let id = t.identity, sums = t.sums, raw = t.rawSums ?? t.sums
        let resized = id.shapeChange.flatMap { $0 == .replacedHead ? nil : $0 }
        var offset: (base: Int, finetuned: Int)?
        if case let .offsetRows(baseFirst, finetunedFirst, _, _, _)? = resized { offset = (baseFirst, finetunedFirst) }
        var m = writer.open(&out)
        m.key("added_rows", &out); integer(resized?.addedRows, &out)
        m.key("base_dtype", &out); string(id.baseDType.rawValue, &out)
        if let offset { m.key("base_first_row", &out); integer(offset.base, &out) } else { m.skip("base_first_row") }
        m.key("base_inf", &out); integer(sums?.baseInfinite, &out)
        m.key("base_l2", &out); number(t.baseL2, &out)
        m.key("base_name", &out); string(id.baseName, &out)
        m.key("base_nan", &out); integer(sums?.baseNaN, &out)
        m.key("base_shape", &out); writer.integers(id.baseShape, &out)
        m.key("bias_type", &out); string(id.role.biasType, &out)
        m.key("changed", &out); integer(t.changed, &out)
        m.key("changed_rows", &out); integer(t.changedRows, &out)
        m.key("component", &out); string(id.role.component.rawValue, &out)
        m.key("converted_to", &out); string(t.conversion?.rawValue, &out)
        m.key("cosine", &out); number(t.cosine, &out)
        m.key("delta_l2", &out); number(t.deltaL2, &out)
        m.key("finetuned_dtype", &out); string(id.finetunedDType.rawValue, &out)
        if let offset { m.key("finetuned_first_row", &out); integer(offset.finetuned, &out) } else { m.skip("finetuned_first_row") }
        m.key("finetuned_inf", &out); integer(sums?.finetunedInfinite, &out)
        m.key("finetuned_l2", &out); number(t.finetunedL2, &out)
        m.key("finetuned_name", &out); string(id.finetunedName, &out)
        m.key("finetuned_nan", &out); integer(sums?.finetunedNaN, &out)
        m.key("finetuned_shape", &out); writer.integers(id.finetunedShape, &out)
        m.key("identical", &out); flag(t.isIdentical, &out)
        m.key("kind", &out); string(id.role.kind.rawValue, &out)
        m.key("layer", &out); integer(id.role.layer, &out)
        m.key("max_abs_delta", &out); number(t.maxAbsDelta, &out)
        m.key("mean_abs_delta", &out); number(t.meanAbsDelta, &out)
        m.key("name", &out); string(id.name, &out)
        m.key("non_finite", &out); integer(t.nonFinite, &out)
        m.key("numel", &out); integer(t.numel, &out)
        m.key("problem", &out); string(id.problem, &out)
        m.key("raw_changed", &out); integer(raw?.changed, &out)
        m.key("raw_delta_l2", &out); number(raw?.deltaL2, &out)
        m.key("raw_max_abs_delta", &out); number(raw?.maxAbsoluteDelta, &out)
        m.key("raw_mean_abs_delta", &out); number(raw?.meanAbsDelta, &out)
        m.key("raw_relative_change", &out); number(raw?.relativeChange, &out)
        m.key("relative_change", &out); number(t.relativeChange, &out)
        m.key("replaced", &out); flag(id.shapeChange == .replacedHead, &out)
        m.key("shared_rows", &out); integer(resized?.sharedRows, &out)
        m.key("transposed", &out); flag(id.transposed, &out)
        writer.close(&out)
    }

    static func string(_ value: String?, _ out: inout [UInt8]) { JSONEntryWriter.string(value, &out) }
    static func number(_ value: Double?, _ out: inout [UInt8]) { JSONEntryWriter.number(value, &out) }
    static func integer(_ value: Int?, _ out: inout [UInt8]) { JSONEntryWriter.integer(value, &out) }
    static func flag(_ value: Bool, _ out: inout [UInt8]) { JSONEntryWriter.flag(value, &out) }
}
